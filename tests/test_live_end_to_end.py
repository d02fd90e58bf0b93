"""End to end: `bot run` in live paper mode against the fake exchange with
1-second bars for about 20 seconds, stopped by SIGTERM like a service."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml
from fake_exchange import FakeExchange
from helpers import REPO, RHYTHM, rows, wait_until, write_config

SECOND = 1_000


def live_rhythm_config(tmp_path: Path, fake: FakeExchange, timeout_ms: int) -> Path:
    """Live paper trading of 1-second bars from `fake`, on the rhythm
    strategy, with a tiny model trained on 250 bars."""
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "rhythm.py").write_text(RHYTHM)
    config = write_config(tmp_path, {
        "mode": "live", "timeframe": "1s",
        "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(),
                     "timeout_ms": timeout_ms},
        "schedule": {"bar_delay_seconds": 0.2, "late_retry_seconds": 0.3, "late_retries": 2},
        "retrain": {"initial_train_bars": 250, "train_window_bars": 250, "every_days": 30},
        "strategy": {"name": "rhythm", "path": str(tmp_path / "strategies")},
    })
    data = yaml.safe_load(config.read_text())
    data["strategy"]["params"] = {}  # rhythm takes none
    config.write_text(yaml.safe_dump(data))
    return config


def count_live_predictions(db: Path, since_ms: float) -> int:
    if not db.exists():
        return 0
    try:
        return rows(db, f"SELECT COUNT(*) FROM predictions WHERE ts >= {since_ms}")[0][0]
    except sqlite3.OperationalError:
        return 0  # tables not made yet


def wait_for_live_predictions(db: Path, since_ms: float, count: int, daemon: subprocess.Popen,
                              seconds: float = 300, output: Path | None = None) -> None:
    wait_until(lambda: count_live_predictions(db, since_ms) >= count, timeout_s=seconds,
               what=f"{count} live predictions", poll_s=0.5, process=daemon, output=output)


def test_bot_run_live_paper_trades_every_bar_once(tmp_path: Path) -> None:
    with FakeExchange() as fake:
        fake.add_generated_market("BTC/USDT", "1s", seed=3)
        config = live_rhythm_config(tmp_path, fake, timeout_ms=2_000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
        started = time.time() * 1000
        # Output to a file: an unread pipe would fill up and stall the daemon.
        with (tmp_path / "console.txt").open("w+") as console:
            daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO, env=env,
                                      stdout=console, stderr=console, text=True)
            # Count bars, not seconds: start-up (torch, backfill, the first
            # model) takes as long as the machine needs today.
            wait_for_live_predictions(tmp_path / "bot.sqlite", started, 12, daemon,
                                      output=tmp_path / "console.txt")
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            stopped = time.time() * 1000
            console.seek(0)
            stderr = console.read()
        assert daemon.returncode == 0, stderr
        assert "Traceback" not in stderr

        db = tmp_path / "bot.sqlite"
        stored = rows(db, "SELECT ts, open, high, low, close, volume FROM bars ORDER BY ts")
        ts = [r[0] for r in stored]
        assert all(b - a == SECOND for a, b in zip(ts, ts[1:]))  # every bar, once, in order
        assert ts[-1] + SECOND <= stopped  # never the forming one
        assert len([t for t in ts if t >= started]) >= 12  # live bars on top of the history
        assert all(tuple(r) == fake.candle("BTC/USDT", r[0]) for r in stored)  # the exchange's values

        assert rows(db, "SELECT COUNT(*) FROM model_versions")[0][0] == 1
        live_predictions = rows(db, f"SELECT COUNT(*) FROM predictions WHERE ts >= {started}")[0][0]
        assert live_predictions >= 10
        fills = rows(db, f"SELECT COUNT(*) FROM fills WHERE ts >= {started}")[0][0]
        assert fills >= 2  # the paper broker traded
