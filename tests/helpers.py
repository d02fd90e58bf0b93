"""Plain helpers shared by the tests: the repository's paths, a tiny but
real replay configuration over the bundled data, and ways to run and read
it. Tests import them as `from helpers import ...`; conftest.py keeps only
fixtures and hooks."""

from __future__ import annotations

import copy
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from rich.console import Console

from bot.config import load_config
from bot.logging_setup import configure_logging

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
BUNDLED_BTC = REPO / "data" / "BTC_USDT-1h.csv.gz"
SHARED_DATA = REPO.parent / "shared" / "data"

# ~2,000 hourly bars from 2023: 800 observed before the first model, then
# trading with a retrain every 10 simulated days. The model is tiny so a
# full replay takes seconds; thresholds are near 0.5 so it trades.
TINY = {
    "mode": "replay",
    "symbols": ["BTC/USDT"],
    "timeframe": "1h",
    "seed": 7,
    "replay": {"data": str(BUNDLED_BTC), "start": "2023-01-01", "end": "2023-03-25T08:00:00"},
    "paper": {"initial_cash": 10_000, "fee_bps": 10, "slippage_bps": 5},
    "strategy": {"name": "threshold", "path": str(REPO / "strategies"),
                 "params": {"enter_above": 0.52, "exit_below": 0.49}},
    "features": {"warmup_bars": 30},
    "model": {"seq_len": 12, "hidden_size": 8, "epochs": 3, "batch_size": 128, "patience": 2,
              "threads": 1},
    "risk": {"max_position_fraction": 0.5, "stop_loss_pct": 0.01},
    "retrain": {"every_days": 10, "initial_train_bars": 800, "train_window_bars": 800},
}

# Trades on a fixed rhythm once the model scores a bar, whatever it says:
# this test is about the plumbing, not about the model's opinion.
RHYTHM = """
from bot.domain import Signal
from bot.strategy import Strategy


class Rhythm(Strategy):
    def decide(self, ctx):
        if ctx.prob_up is None:
            return Signal(None, "no prediction")
        return Signal(1.0, "long") if (ctx.bar.ts // 1000) % 4 < 2 else Signal(0.0, "flat")
"""


def fresh_python_prints(code: str) -> str:
    """What `code` prints, run in a fresh interpreter: for what a process
    imports, which an interpreter that ran other tests cannot show."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_config(directory: Path, overrides: dict | None = None, name: str = "config.yaml") -> Path:
    """A config whose state (database, models, log) lives in `directory`."""
    data = deep_merge(TINY, {
        "storage": {"db_url": f"sqlite:///{directory / 'bot.sqlite'}", "models_dir": str(directory / "models")},
        "logging": {"file": str(directory / "bot.jsonl")},
    })
    data = deep_merge(data, overrides or {})
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def replay(config_path: Path, max_bars: int | None = None, console: Console | None = None):
    """Run (or resume) a replay in-process, as `bot run` does; returns the
    Runtime. What it tells the user goes to `console` (nowhere by default)."""
    from bot.app.replay import open_replay, run_replay

    cfg = load_config(config_path)
    configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
    rt = open_replay(cfg)
    try:
        run_replay(rt, max_bars=max_bars, console=console or Console(quiet=True), progress=False)
    finally:
        rt.store.close()
    return rt


def rows_at(url: str, query: str) -> list[tuple]:
    """The rows of `query` in the database at `url`: a SQLite file or a PostgreSQL database."""
    if url.startswith("sqlite:///"):
        return rows(Path(url.removeprefix("sqlite:///")), query)
    import psycopg

    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(query).fetchall()]


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


class WaitTimedOut(AssertionError):
    """`wait_until`'s deadline passed: a test whose wait is only best effort
    can let this one go and still fail on anything else."""


def wait_until(condition: Callable[[], T], *, timeout_s: float, what: str, poll_s: float = 0.2,
               process: subprocess.Popen | None = None, output: Path | None = None) -> T:
    """Poll `condition` every `poll_s` seconds until it returns something
    truthy, and return that.

    Fails naming `what` once `timeout_s` has passed (WaitTimedOut), or as
    soon as `process`, when given, has exited, rather than at the deadline;
    either message ends with the end of the process's output (the file
    `output`, else its own pipes once it has exited). `timeout_s=math.inf`
    sets no deadline of its own, for a wait that something else ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"gave up waiting for {what}: the process (pid {process.pid}) exited with code "
                                 f"{process.returncode}{_output_tail(process, output)}")
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimedOut(f"timed out after {timeout_s:g} s waiting for {what}{_output_tail(process, output)}")
        time.sleep(poll_s)


def _output_tail(process: subprocess.Popen | None, output: Path | None, chars: int = 3_000) -> str:
    """The last `chars` of what the process wrote, as a message's ending."""
    text = ""
    if output is not None and output.exists():
        text = output.read_text(errors="replace")
    elif process is not None and process.poll() is not None and (process.stdout or process.stderr):
        try:
            parts = process.communicate(timeout=5)  # it has exited: what is left in its pipes
        except (subprocess.TimeoutExpired, ValueError):  # a child still holds a pipe, or it was read already
            parts = ()
        text = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part for part in parts if part)
    return f"; its output ends:\n{text[-chars:]}" if text.strip() else ""
