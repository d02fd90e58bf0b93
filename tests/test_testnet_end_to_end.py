"""End to end: `bot run` with `broker: testnet` against the fake exchange's
signed private endpoints, 1-second bars, as a service would run it.

- trading until the exchange has recorded four trades (counted, not timed,
  so a loaded machine only makes it slower): the database's fills and
  balances equal the exchange's own records, and the API secret appears
  nowhere;
- kill -9 with an order open on the exchange, restart: reconciliation
  adopts the order, no duplicate is sent, and its fill is booked once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fake_exchange import FakeExchange
from helpers import REPO, RHYTHM, rows, wait_until, write_config

from bot.broker.exchange import client_order_id

KEY, SECRET = "e2e-key-51c7d2", "e2e-secret-9a8b7c6d5e4f"
SYMBOL = "BTC/USDT"
INITIAL_USDT, INITIAL_CASH = 10_000.0, 5_000.0


def write_testnet_config(directory: Path, fake: FakeExchange) -> Path:
    (directory / "strategies").mkdir(exist_ok=True)
    (directory / "strategies" / "rhythm.py").write_text(RHYTHM)
    config = write_config(directory, {
        "mode": "live", "timeframe": "1s", "broker": "testnet",
        "exchange": {"name": "binance", "sandbox": True, "urls": fake.ccxt_urls(), "options": fake.ccxt_options(),
                     "timeout_ms": 2_000},
        "paper": {"initial_cash": INITIAL_CASH},
        "schedule": {"bar_delay_seconds": 0.2, "late_retry_seconds": 0.3, "late_retries": 2,
                     "reconcile_seconds": 5},
        "retrain": {"initial_train_bars": 250, "train_window_bars": 250, "every_days": 30},
        "strategy": {"name": "rhythm", "path": str(directory / "strategies")},
    })
    data = yaml.safe_load(config.read_text())
    data["strategy"]["params"] = {}
    config.write_text(yaml.safe_dump(data))
    return config


def env_with_keys() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    env.update(BOT_EXCHANGE_API_KEY=KEY, BOT_EXCHANGE_SECRET=SECRET)
    return env


def start_daemon(config: Path, console: Path) -> subprocess.Popen:
    # Output to a file: an unread pipe would fill up and stall the daemon.
    out = console.open("a")
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO,
                            env=env_with_keys(), stdout=out, stderr=out, text=True)


def stop_daemon(daemon: subprocess.Popen) -> None:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    assert daemon.returncode == 0


def expected_fill(trade: dict) -> tuple:
    """An exchange trade as the ledger must book it (fees in USDT)."""
    qty, price, fee = float(trade["qty"]), float(trade["price"]), float(trade["commission"])
    if trade["commissionAsset"] == "BTC":
        qty, fee = qty - fee, fee * price
    return str(trade["id"]), "buy" if trade["isBuyer"] else "sell", qty, price, fee


def assert_books_match_exchange(db: Path, fake: FakeExchange) -> None:
    booked = sorted(rows(db, "SELECT trade_id, side, qty, price, fee FROM fills WHERE trade_id IS NOT NULL"))
    expected = sorted(expected_fill(t) for t in fake.account.trades)
    assert [b[:2] for b in booked] == [e[:2] for e in expected]
    for got, want in zip(booked, expected):
        assert got[2:] == pytest.approx(want[2:], rel=1e-12, abs=1e-12)
    cash, = rows(db, "SELECT cash FROM equity ORDER BY ts DESC LIMIT 1")[0]
    qty, = rows(db, f"SELECT qty FROM positions WHERE symbol = '{SYMBOL}' ORDER BY ts DESC LIMIT 1")[0]
    assert fake.account.balance("USDT") == pytest.approx(INITIAL_USDT + cash - INITIAL_CASH, abs=1e-6)
    assert fake.account.balance("BTC") == pytest.approx(qty, abs=1e-9)


def wait_for_more_bars(db: Path, count: int, daemon: subprocess.Popen, console: Path) -> None:
    """Let `count` more bar steps pass: long enough for a wrong resend to show."""
    seen = rows(db, "SELECT COUNT(*) FROM bars")[0][0]
    wait_until(lambda: rows(db, "SELECT COUNT(*) FROM bars")[0][0] >= seen + count, timeout_s=120,
               what=f"{count} more bars", poll_s=0.1, process=daemon, output=console)


@pytest.fixture
def fake():
    with FakeExchange() as server:
        server.add_generated_market(SYMBOL, "1s", seed=11)
        server.enable_trading(KEY, SECRET, {"USDT": INITIAL_USDT, "BTC": 0.0})
        yield server


def test_testnet_daemon_books_exactly_what_the_exchange_did(tmp_path: Path, fake) -> None:
    config = write_testnet_config(tmp_path, fake)
    console = tmp_path / "console.txt"
    daemon = start_daemon(config, console)
    try:  # the first model trains on 250 one-second bars, then the rhythm trades every few bars
        wait_until(lambda: len(fake.account.trades) >= 4, timeout_s=600, what="four trades on the exchange",
                   poll_s=0.2, process=daemon, output=console)
    finally:
        stop_daemon(daemon)
    output = console.read_text()
    assert "Traceback" not in output

    db = tmp_path / "bot.sqlite"
    account = fake.account
    assert len(account.trades) >= 4, output[-2000:]
    assert len(set(account.placed)) == len(account.placed)  # no client id sent twice
    assert_books_match_exchange(db, fake)
    ours = {client_order_id(tag, oid) for (oid,) in rows(db, "SELECT id FROM orders")
            for (tag,) in rows(db, "SELECT value FROM run_meta WHERE key = 'client_order_tag'")}
    assert set(account.placed) <= ours
    # Every market order sent reached an end on the exchange (stops rest with us).
    assert rows(db, "SELECT COUNT(*) FROM orders WHERE kind = 'market' AND status IN ('new', 'open')")[0][0] == 0

    # The secret (and the key) appear in no log, database or report.
    reports = [subprocess.run([sys.executable, "-m", "bot", *args, "-c", str(config)], cwd=REPO,
                              env=env_with_keys(), capture_output=True, text=True)
               for args in (["report"], ["report", "--json"], ["trades"], ["status"])]
    assert all(r.returncode == 0 for r in reports), [r.stderr for r in reports]
    texts = [output, *(r.stdout + r.stderr for r in reports)]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "bot.jsonl" for p in files) and any(p.name == "bot.sqlite" for p in files)
    for secret in (SECRET, KEY):
        assert not any(secret in text for text in texts)
        assert not any(secret.encode() in p.read_bytes() for p in files)


def test_kill_with_an_order_open_then_restart_adopts_it_without_a_duplicate(tmp_path: Path, fake) -> None:
    config = write_testnet_config(tmp_path, fake)
    console = tmp_path / "console.txt"
    db = tmp_path / "bot.sqlite"
    fake.account.hold_orders = True  # accepted, left open
    daemon = start_daemon(config, console)
    wait_until(lambda: fake.account.order_count() >= 1, timeout_s=90, what="the first order", poll_s=0.1,
               process=daemon, output=console)
    time.sleep(0.5)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=30)
    placed = list(fake.account.placed)
    assert len(placed) == 1

    daemon = start_daemon(config, console)
    try:
        # Reconciliation at start-up finds the order open on the exchange.
        wait_until(lambda: rows(db, "SELECT status FROM orders WHERE kind = 'market' AND status IN ('open', 'new')")
                   == [("open",)], timeout_s=60, what="the adopted order", poll_s=0.1, process=daemon, output=console)
        wait_for_more_bars(db, 3, daemon, console)
        assert fake.account.placed == placed  # nothing sent while it is open
        fake.account.release_held()
        wait_until(lambda: rows(db, "SELECT COUNT(*) FROM fills")[0][0] >= 1, timeout_s=30, what="the fill", poll_s=0.1,
                   process=daemon, output=console)
        wait_for_more_bars(db, 3, daemon, console)
    finally:
        stop_daemon(daemon)
    assert fake.account.placed.count(placed[0]) == 1
    assert len(set(fake.account.placed)) == len(fake.account.placed)
    assert_books_match_exchange(db, fake)
    assert "Traceback" not in console.read_text()
