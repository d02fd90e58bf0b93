"""An order the exchange records only after the bot's timeout and after its
first look-ups came back empty: the whole bot (engine, risk manager,
exchange broker, reconciliation, SQLite ledger) against the fake exchange,
with a real ccxt.binance signing real HTTP requests.

The order stays `unknown` and is asked after at every step and every
reconciliation; while it is unknown no entry is sent on any symbol and
`bot status` says why; once the exchange shows it filled, the fill is
booked once, the position gets its stop, and trading carries on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_exchange import FakeExchange
from helpers import REPO, rows
from test_testnet_end_to_end import KEY, SECRET, env_with_keys, write_testnet_config

from bot.app.reconcile import reconcile
from bot.app.runtime import build_runtime
from bot.clock import SystemClock
from bot.config import load_config
from bot.domain import Bar, Signal
from bot.market.ccxt_feed import CcxtFeed, make_exchange
from bot.strategy import Strategy

BTC, ETH = "BTC/USDT", "ETH/USDT"
MINUTE = 60_000


class LongOnRequest(Strategy):
    """Long the symbols the test names, flat elsewhere."""

    def __init__(self) -> None:
        self.wanted: set[str] = set()

    def decide(self, ctx) -> Signal:
        return Signal(1.0, "asked to be long") if ctx.symbol in self.wanted else Signal(0.0, "not asked")


@pytest.fixture
def fake():
    with FakeExchange() as server:
        for seed, symbol in enumerate((BTC, ETH)):
            server.add_generated_market(symbol, "1m", seed=seed + 3)
        server.enable_trading(KEY, SECRET, {"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0})
        yield server


def open_bot(tmp_path: Path, fake: FakeExchange, monkeypatch, strategy: Strategy):
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", KEY)
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    config = write_testnet_config(tmp_path, fake)
    data = yaml.safe_load(config.read_text())
    data.update(symbols=[BTC, ETH], timeframe="1m")
    data["exchange"]["timeout_ms"] = 1_000
    config.write_text(yaml.safe_dump(data))
    cfg = load_config(config)
    feed = CcxtFeed(make_exchange(cfg.exchange), cfg.timeframe, cfg.timeframe_ms, 10, cfg.market)
    return config, cfg, build_runtime(cfg, clock=SystemClock(), feed=feed, strategy=strategy)


def bars_at(fake: FakeExchange, open_ms: int) -> list[Bar]:
    return [Bar(s, open_ms, *fake.candle(s, open_ms)[1:6]) for s in (BTC, ETH)]


def order_posts(fake: FakeExchange) -> int:
    return sum(1 for method, path, _ in fake.requests if method == "POST" and path == "/api/v3/order")


def test_a_fill_recorded_late_is_booked_once_protected_and_blocks_entries_meanwhile(
        tmp_path: Path, fake, monkeypatch) -> None:
    strategy = LongOnRequest()
    config, cfg, rt = open_bot(tmp_path, fake, monkeypatch, strategy)
    db = tmp_path / "bot.sqlite"
    first = (fake.now() // MINUTE - 1) * MINUTE  # fresh: live mode trades on no bar two minutes old

    def reconcile_now() -> None:
        reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, fake.now())

    sent = []  # what a notifier would have been offered (bot/app/notify.py)
    rt.engine.event_sink = sent.append
    try:
        reconcile_now()  # the starting balances
        fake.account.record_late_next(delay_seconds=2.0)
        strategy.wanted = {BTC}
        rt.engine.step(bars_at(fake, first))  # the entry times out and cannot be found
        for _ in range(3):
            reconcile_now()
        assert rows(db, "SELECT symbol, status FROM orders WHERE kind = 'market'") == [(BTC, "unknown")]
        assert fake.account.order_count() == 0 and rows(db, "SELECT COUNT(*) FROM fills") == [(0,)]

        strategy.wanted = {BTC, ETH}
        rt.engine.step(bars_at(fake, first + MINUTE))
        blocks = rows(db, "SELECT symbol, message, data_json FROM events WHERE kind = 'order_blocked'")
        assert [(b[0], json.loads(b[2])["rule"]) for b in blocks] == [(ETH, "unknown_order")]
        assert "is not on the exchange (no reply to it" in blocks[0][1]
        assert order_posts(fake) == 1  # nothing sent while the order was unknown
        status = subprocess.run([sys.executable, "-m", "bot", "status", "-c", str(config)], cwd=REPO,
                                env=env_with_keys(), capture_output=True, text=True)
        assert status.returncode == 0, status.stderr
        assert "Order unknown" in status.stdout and "BLOCKED" in status.stdout

        fake.account.record_late()  # the exchange shows it, filled
        reconcile_now()
        reconcile_now()
        trades = fake.account.trades
        assert len(trades) == 1
        assert rows(db, "SELECT trade_id FROM fills") == [(str(trades[0]["id"]),)]  # booked once
        assert rows(db, "SELECT status FROM orders WHERE kind = 'market'") == [("filled",)]
        stop = rows(db, f"SELECT stop_price, qty FROM orders WHERE kind = 'stop' AND symbol = '{BTC}' "
                        "AND status = 'open'")
        position = rows(db, f"SELECT qty, avg_entry FROM positions WHERE symbol = '{BTC}' ORDER BY ts DESC, "
                            "rowid DESC LIMIT 1")[0]
        assert position[0] == pytest.approx(fake.account.balance("BTC"), abs=1e-12) and position[0] > 0
        assert stop == [(pytest.approx(position[1] * (1 - cfg.risk.stop_loss_pct)), pytest.approx(position[0]))]
        assert rows(db, "SELECT kind FROM events WHERE kind IN ('order_ack_lost', 'order_found')") == \
            [("order_ack_lost",), ("order_found",)]
        # Learnt between steps and committed as amendments, they reach the notifier too.
        late = [e.kind for e in sent if e.kind in ("order_ack_lost", "order_found")]
        assert late == ["order_ack_lost", "order_found"]

        rt.engine.step(bars_at(fake, first + 2 * MINUTE))  # the block is gone: ETH enters
        assert rows(db, f"SELECT status FROM orders WHERE symbol = '{ETH}' AND reason = 'entry'") == [("filled",)]
        assert "ETHUSDT" in [t["symbol"] for t in fake.account.trades]
    finally:
        rt.store.close()

