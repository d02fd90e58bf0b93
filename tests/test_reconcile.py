"""Reconciliation of the exchange account with the database: foreign open
orders and balance differences are reported, never acted on; a budget
larger than the account is refused at start."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from fake_exchange import FakeExchange
from helpers import REPO, rows
from test_config_errors import assert_refused
from test_testnet_end_to_end import INITIAL_CASH, KEY, SECRET, SYMBOL, env_with_keys, write_testnet_config

from bot.app.reconcile import reconcile
from bot.app.runtime import build_runtime
from bot.clock import SystemClock
from bot.config import ConfigError, load_config
from bot.market.ccxt_feed import CcxtFeed, make_exchange


@pytest.fixture
def fake():
    with FakeExchange() as server:
        server.add_generated_market(SYMBOL, "1s", seed=2)
        server.enable_trading(KEY, SECRET, {"USDT": 10_000.0, "BTC": 0.25})
        yield server


def open_runtime(tmp_path: Path, fake: FakeExchange, monkeypatch):
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", KEY)
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    cfg = load_config(write_testnet_config(tmp_path, fake))
    feed = CcxtFeed(make_exchange(cfg.exchange), cfg.timeframe, cfg.timeframe_ms, 10, cfg.market)
    return cfg, build_runtime(cfg, clock=SystemClock(), feed=feed)


def events(db: Path) -> list[tuple]:
    return rows(db, "SELECT kind, symbol, message FROM events ORDER BY id")


def test_foreign_orders_and_balance_differences_are_reported(tmp_path: Path, fake, monkeypatch) -> None:
    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    try:
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        assert events(tmp_path / "bot.sqlite") == []  # the first round records the starting balances

        fake.account.hold_orders = True
        fake.make_ccxt().create_order(SYMBOL, "market", "buy", 0.1, params={"newClientOrderId": "someone-else"})
        fake.account.balances["USDT"] -= 25  # a withdrawal the bot did not make
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
    finally:
        rt.store.close()
    found = events(tmp_path / "bot.sqlite")
    assert [e[0] for e in found] == ["unknown_order", "balance_mismatch"]
    assert "USDT" in found[1][2] and "9975" in found[1][2]
    assert fake.account.order_count() == 1  # reported, not cancelled
    assert not any(order.status == "CANCELED" for order in fake.account.orders.values())


def test_a_budget_larger_than_the_account_is_refused(tmp_path: Path, fake, monkeypatch) -> None:
    fake.account.balances["USDT"] = Decimal(INITIAL_CASH - 1)
    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    try:
        with pytest.raises(ConfigError, match="paper.initial_cash"):
            reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
    finally:
        rt.store.close()


def test_a_balance_mismatch_beyond_dust_blocks_entries_until_the_account_agrees(tmp_path: Path, fake,
                                                                               monkeypatch) -> None:
    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    broker = rt.engine.broker
    try:
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        fake.account.balances["USDT"] -= Decimal("0.001")  # dust: reported, not blocking
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        assert broker.entry_block() is None and rt.store.get_meta("balance_problem") == ""

        fake.account.balances["BTC"] += Decimal("0.01")  # a deposit the ledger knows nothing of
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        kind, reason = broker.entry_block()
        assert kind == "balance_mismatch" and reason.startswith("BTC: exchange 0.26000000")
        assert "BTC" in rt.store.get_meta("balance_problem")

        fake.account.balances["BTC"] -= Decimal("0.01")
        fake.account.balances["USDT"] += Decimal("0.001")
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        assert broker.entry_block() is None and rt.store.get_meta("balance_problem") == ""
    finally:
        rt.store.close()
    kinds = [e[0] for e in events(tmp_path / "bot.sqlite")]
    assert kinds == ["balance_mismatch", "balance_mismatch", "balance_mismatch", "balance_matched"]


class DaemonRounds:
    """Reconciliation rounds as the daemon makes them: one memory of the
    findings across rounds, and what was notified."""

    def __init__(self, tmp_path: Path, fake: FakeExchange, monkeypatch) -> None:
        from bot.app.finding_streaks import FindingStreaks

        self.fake = fake
        self.cfg, self.rt = open_runtime(tmp_path, fake, monkeypatch)
        self.streaks, self.notified = FindingStreaks(), []

    def __call__(self) -> None:
        cfg, rt = self.cfg, self.rt
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, self.fake.now(), self.streaks,
                  self.notified.append)


def test_a_finding_is_stored_and_notified_once_while_it_lasts(tmp_path: Path, fake, monkeypatch) -> None:
    """The daemon's rounds stored a foreign order and a balance difference
    again at every round (288 a day at five minutes), and notified none."""
    round_ = DaemonRounds(tmp_path, fake, monkeypatch)
    try:
        round_()  # the starting balances
        fake.account.hold_orders = True
        foreign = fake.make_ccxt().create_order(SYMBOL, "market", "buy", 0.1,
                                                params={"newClientOrderId": "someone-else"})
        fake.account.balances["USDT"] -= 25
        for _ in range(3):
            round_()
        fake.make_ccxt().cancel_order(foreign["id"], SYMBOL)  # the order goes, the difference stays
        round_()
        fake.make_ccxt().create_order(SYMBOL, "market", "buy", 0.1, params={"newClientOrderId": "someone-else-2"})
        round_()  # a new foreign order is news
    finally:
        round_.rt.store.close()
    stored = [e[0] for e in events(tmp_path / "bot.sqlite")]
    assert stored == ["unknown_order", "balance_mismatch", "unknown_order"]
    assert [e.kind for e in round_.notified] == stored


def test_a_difference_that_grows_past_dust_is_news_again(tmp_path: Path, fake, monkeypatch) -> None:
    """Keyed by asset alone, a difference reported at dust size said nothing
    more when it grew into one that blocks entries."""
    round_ = DaemonRounds(tmp_path, fake, monkeypatch)
    try:
        round_()  # the starting balances
        fake.account.balances["USDT"] -= Decimal("0.001")  # dust: reported, not blocking
        round_()
        round_()
        fake.account.balances["USDT"] -= 25  # now it blocks entries
        round_()
        round_()
    finally:
        round_.rt.store.close()
    assert [(e.kind, e.data["blocks_entries"]) for e in round_.notified] == [("balance_mismatch", False),
                                                                              ("balance_mismatch", True)]
    assert [e[0] for e in events(tmp_path / "bot.sqlite")] == ["balance_mismatch", "balance_mismatch"]


def test_a_failure_is_one_finding_whatever_figures_its_text_holds() -> None:
    """Keyed by its whole text, a look-up refused inside the exchange's quiet
    ("291 s left", then "0 s left") was news at every round."""
    from bot.app.finding_streaks import FindingStreaks
    from bot.domain import Event

    streaks = FindingStreaks()

    def failed(left: int) -> Event:
        return Event(1, "reconcile_failed", f"balances unavailable: RateLimitExceeded: quiet, {left} s left")

    assert len(streaks.new([failed(291)])) == 1
    assert streaks.new([failed(0)]) == []
    assert streaks.new([Event(1, "reconcile_failed", "balances unavailable: RequestTimeout")]) != []


@pytest.mark.parametrize("heard_by", ["feed", "broker"])
def test_a_wait_the_exchange_asked_of_the_feed_or_the_broker_keeps_both_quiet(tmp_path: Path, fake, monkeypatch,
                                                                            heard_by: str) -> None:
    """The feed and the broker are two clients of one exchange, and each
    kept its own quiet: after a 429 with Retry-After 600 on the candles,
    the reconciliation round asked the account and the open orders at once
    (binance answers a client that keeps asking with a 418 ban)."""
    from bot.market.ccxt_feed import MarketDataError

    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    try:
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())  # the starting balances
        if heard_by == "feed":
            fake.fail_next("/api/v3/klines", status=429, retry_after=600)
            with pytest.raises(MarketDataError, match="Retry-After 600"):
                rt.feed.fetch_closed(SYMBOL, None, fake.now())
        else:
            fake.fail_next("/api/v3/account", status=429, retry_after=600)
            reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        asked = len(fake.requests)
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        with pytest.raises(MarketDataError, match="not asked: the exchange asked for quiet"):
            rt.feed.fetch_closed(SYMBOL, None, fake.now())
        assert len(fake.requests) == asked  # neither client asked inside the quiet
    finally:
        rt.store.close()
    refused = [e[2] for e in events(tmp_path / "bot.sqlite") if e[0] == "reconcile_failed"]
    quiet = "RateLimitExceeded: not asked: the exchange asked for quiet (Retry-After)"
    assert [m.split(": ", 1)[1].rsplit(",", 1)[0] for m in refused[-2:]] == [quiet, quiet]  # the last round's reads


def test_credentials_the_exchange_refuses_stop_the_start_not_a_later_round(tmp_path: Path, fake, monkeypatch) -> None:
    """With a wrong key the daemon started anyway, then rejected an order at
    every entry bar (16 error events in its first minute). At start they
    are a config the bot must not run; a later round reports them."""
    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    rt.engine.broker.client.exchange.secret = "not-the-secret"
    try:
        with pytest.raises(ConfigError, match="BOT_EXCHANGE_API_KEY, BOT_EXCHANGE_SECRET: the exchange refused them"):
            reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now(), at_start=True)
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
    finally:
        rt.store.close()
    assert ("reconcile_failed", None) in [e[:2] for e in events(tmp_path / "bot.sqlite")]


def test_keys_refused_in_a_later_round_block_entries_until_a_round_is_answered(tmp_path: Path, fake,
                                                                             monkeypatch) -> None:
    cfg, rt = open_runtime(tmp_path, fake, monkeypatch)
    broker = rt.engine.broker
    try:
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now(), at_start=True)
        assert broker.entry_block() is None
        # The keys changed on the exchange: its signature check fails. (A key
        # binance no longer knows answers -2015, which ccxt reads as a
        # temporary ban once the client has signed in: a rate limit's quiet.)
        fake.account.secret = "rotated-" + SECRET
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        kind, reason = broker.entry_block()
        assert kind == "credentials_refused" and "BOT_EXCHANGE_API_KEY" in reason
        fake.account.secret = SECRET
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())
        assert broker.entry_block() is None
    finally:
        rt.store.close()


def test_bot_run_with_a_wrong_secret_exits_2_naming_it(tmp_path: Path, fake) -> None:
    config = write_testnet_config(tmp_path, fake)
    env = {**env_with_keys(), "BOT_EXCHANGE_SECRET": "not-the-secret"}
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--no-progress", "-c", str(config)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert_refused(done, "BOT_EXCHANGE_SECRET")
    assert "not-the-secret" not in done.stderr + done.stdout
    assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM orders") == [(0,)]
