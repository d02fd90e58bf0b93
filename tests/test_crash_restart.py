"""Crash safety: a replay killed with SIGKILL at random moments, restarted
each time, ends with exactly the fills, equity and models of a run that was
never interrupted, on SQLite and on PostgreSQL. Each bar step is one
transaction and every piece of in-memory state is rebuilt from the
database on restart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import REPO, deep_merge, replay, rows_at, wait_until, write_config

# ~4,000 bars with retrains every 10 days and the risk rules that keep
# state across bars (trailing stops, cooldowns, a daily loss limit).
LONGER = {
    "replay": {"end": "2023-06-17T00:00:00"},
    "risk": {"trailing_stop_pct": 0.015, "take_profit_pct": 0.03, "cooldown_bars": 3,
             "daily_loss_limit_pct": 0.02, "max_drawdown_pct": 0.5},
}
KILLS = 10
COMPARED = {
    "fills": "SELECT order_id, side, qty, price, fee, ts, realized_pnl FROM fills ORDER BY id",
    "equity": "SELECT * FROM equity ORDER BY ts",
    "orders": "SELECT id, status, qty, filled_qty, stop_price, closed_ts FROM orders ORDER BY id",
    "models": "SELECT version, status, train_from_ts, train_to_ts FROM model_versions ORDER BY version",
    "predictions": "SELECT symbol, ts, model_version, prob_up, outcome FROM predictions ORDER BY ts",
}


def start(config: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config), "--no-progress"], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_at_random_moments_then_restart_gives_the_same_run(tmp_path: Path, new_database) -> None:
    uninterrupted = tmp_path / "uninterrupted"
    uninterrupted.mkdir()
    expected = new_database(uninterrupted)
    replay(write_config(uninterrupted, deep_merge(LONGER, {"storage": {"db_url": expected}})))

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    db = new_database(crashed)
    config = write_config(crashed, deep_merge(LONGER, {"storage": {"db_url": db}}))
    rng = random.Random(20261121)
    # Where each kill lands is chosen by bar count, not by the clock: seven
    # at bar counts spread over the run (mid-step or mid-retrain, however
    # fast the machine), three during start-up and restore.
    moments: list[int | None] = sorted(rng.sample(range(100, 3_800), KILLS - 3)) + [None] * 3
    rng.shuffle(moments)
    kills, progress = 0, []
    for target in _in_bar_order(moments):
        process = start(config)
        if target is None:
            time.sleep(rng.uniform(0.05, 1.0))  # within start-up: torch alone takes longer to import
        else:
            _wait_for_bars(process, db, target)
        assert process.poll() is None, f"the run ended before kill {kills + 1}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        progress.append(_bars(db))
    assert kills == KILLS
    assert len(set(progress)) >= KILLS // 2  # the kills landed at many points of the replay
    final = start(config)
    assert final.wait(timeout=300) == 0

    for name, query in COMPARED.items():
        assert rows_at(db, query) == rows_at(expected, query), name
    assert rows_at(db, "SELECT COUNT(*) FROM fills")[0][0] > 20


def _in_bar_order(moments: list[int | None]) -> list[int | None]:
    """The bar-count kills in increasing order (a restarted run only moves
    forward), the start-up kills left where the shuffle put them."""
    targets = iter(sorted(m for m in moments if m is not None))
    return [None if m is None else next(targets) for m in moments]


def _wait_for_bars(process: subprocess.Popen, db: str, target: int) -> None:
    """Until the run has stored `target` bars; the deadline only catches a hang."""
    wait_until(lambda: _bars(db) >= target, timeout_s=900, what=f"{target} bars stored", poll_s=0.02,
               process=process)


def _bars(db: str) -> int:
    try:
        return rows_at(db, "SELECT COUNT(*) FROM bars")[0][0]
    except Exception:  # killed before the tables existed
        return 0


def test_a_step_the_database_refuses_stops_bot_run_with_one_line_and_a_restart_resumes(tmp_path: Path) -> None:
    """A bar step whose commit fails (here a trigger refuses its equity row)
    ends `bot run` with exit 1 and one line saying so; nothing of that step
    is stored, and once the database takes it again a restart goes on."""
    import sqlite3

    from test_config_errors import run_bot

    from bot.timeframes import iso_utc

    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "40", "--no-progress").returncode == 0
    db = tmp_path / "bot.sqlite"
    with sqlite3.connect(db) as conn:
        (newest,) = conn.execute("SELECT MAX(ts) FROM bars").fetchone()
        refused = newest + 5 * 3_600_000
        conn.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON equity WHEN NEW.ts = {refused} "
                     "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    stopped = run_bot("run", "-c", str(config), "--max-bars", "40", "--no-progress")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert stopped.stderr.strip().splitlines() == [
        f"error: the bar step of {iso_utc(refused)} could not be committed: refused by the test; "
        "stopped so that a restart resumes from the last committed step"
    ]
    assert '"step_not_committed"' in (tmp_path / "bot.jsonl").read_text()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT MAX(ts) FROM bars").fetchone()[0] < refused
        conn.execute("DROP TRIGGER refuse")
    assert run_bot("run", "-c", str(config), "--max-bars", "40", "--no-progress").returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM equity WHERE ts = ?", (refused,)).fetchone() == (1,)
