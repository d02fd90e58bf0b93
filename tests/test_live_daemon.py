"""The live daemon with the real apscheduler on the system clock: 1-second
bars generated from the wall clock, retraining on a worker thread."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers import rows, wait_until, write_config

from bot.app.daemon import run_live
from bot.app.runtime import build_runtime
from bot.clock import SystemClock
from bot.config import load_config
from bot.domain import Bar
from bot.logging_setup import configure_logging
from bot.step_record import StepNotCommitted

SECOND = 1_000


class WallClockFeed:
    """A market whose 1s bars exist once they have closed, like an exchange's;
    on the first call it also serves some history."""

    def __init__(self, history_bars: int) -> None:
        self.history_bars = history_bars
        self.calls: list[int] = []

    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        self.calls.append(now_ms)
        newest_closed = (now_ms // SECOND - 1) * SECOND
        first = since_ts + SECOND if since_ts is not None else newest_closed - self.history_bars * SECOND
        return [self._bar(symbol, ts) for ts in range(first, newest_closed + 1, SECOND)]

    @staticmethod
    def _bar(symbol: str, ts: int) -> Bar:
        t = ts / SECOND
        close = 100 + 5 * math.sin(t / 7) + math.sin(t * 1.3)
        open_ = 100 + 5 * math.sin((t - 1) / 7) + math.sin((t - 1) * 1.3)
        return Bar(symbol, ts, open_, max(open_, close) + 0.2, min(open_, close) - 0.2, close, 10 + (ts // SECOND) % 7)


def scored_live_bars(db: Path, started: float) -> int:
    """Bars scored by a model that closed after the daemon started."""
    try:
        return rows(db, f"SELECT COUNT(*) FROM predictions WHERE ts >= {started * 1000 - SECOND}")[0][0]
    except sqlite3.OperationalError:  # tables not made yet
        return 0


def stop_when(condition, finished: threading.Event, poll_s: float = 0.2) -> None:
    """SIGTERM once `condition` holds, unless the daemon stopped on its own
    first: its own limit (stop_after_seconds) is the deadline."""
    wait_until(lambda: finished.is_set() or condition(), timeout_s=math.inf, what="the condition to stop on",
               poll_s=poll_s)
    if not finished.is_set():
        os.kill(os.getpid(), signal.SIGTERM)  # the daemon's own handler sets its stop flag


def test_live_daemon_steps_closed_bars_and_retrains_in_the_background(tmp_path: Path) -> None:
    config = write_config(tmp_path, {
        "mode": "live", "timeframe": "1s",
        "schedule": {"bar_delay_seconds": 0.05},
        "retrain": {"initial_train_bars": 250, "train_window_bars": 250},
    })
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    feed = WallClockFeed(history_bars=300)
    rt = build_runtime(cfg, clock=SystemClock(), feed=feed)
    db = tmp_path / "bot.sqlite"
    started = time.time()
    # Stopped by what happened, not by the clock: once the model trained in
    # the background has scored a few live bars, as an operator's SIGTERM.
    finished = threading.Event()
    watcher = threading.Thread(target=stop_when, args=(lambda: scored_live_bars(db, started) >= 3, finished))
    watcher.start()
    try:
        clean = run_live(rt, stop_after_seconds=300)  # the limit only catches a hang
    finally:
        finished.set()
        watcher.join()
    stopped_ms = time.time() * 1000
    rt.store.close()
    assert clean and scored_live_bars(db, started) >= 3, "no model scored live bars within 300 s"

    bar_ts = [ts for (ts,) in rows(db, "SELECT ts FROM bars ORDER BY ts")]
    live_bars = [ts for ts in bar_ts if ts >= started * 1000 - SECOND]
    assert len(feed.calls) >= 4  # the catch-up call plus scheduled firings
    assert len(live_bars) >= 3  # bars that closed while the daemon ran
    assert all(b - a == SECOND for a, b in zip(bar_ts, bar_ts[1:]))  # each bar once, in order
    assert bar_ts[-1] + SECOND <= stopped_ms  # no still-forming candle was stored
    # The scheduler fires just after each close (0.05 s delay), not at random.
    offsets = sorted(call % SECOND for call in feed.calls[1:])
    assert offsets[len(offsets) // 2] < 500

    versions = rows(db, "SELECT version, status FROM model_versions")
    assert len(versions) == 1 and versions[0][1] == "champion"
    predicted = [ts for (ts,) in rows(db, "SELECT ts FROM predictions ORDER BY ts")]
    assert predicted and predicted[-1] == bar_ts[-1]  # the swapped-in model scores new bars


def test_a_retrain_that_fails_on_the_worker_is_an_event_and_the_champion_stays(tmp_path: Path, monkeypatch) -> None:
    """The worker thread keeps the daemon up when a retrain raises; the
    failure is written where `bot status` reads, not only to the log."""
    from bot.app.daemon import BackgroundRetrain

    cfg = load_config(write_config(tmp_path))
    configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=0))
    try:
        def broken(now_ms: int):
            raise ValueError("cannot reshape array of size 0")

        monkeypatch.setattr(rt.retrainer, "_run", broken)
        worker = BackgroundRetrain(rt)
        worker(1_700_000_000_000)
        assert worker.wait(60)
        said = "ValueError: cannot reshape array of size 0; the champion stays"
        events = rows(tmp_path / "bot.sqlite", "SELECT ts, level, kind, message FROM events")
        assert events == [(1_700_000_000_000, "error", "retrain_failed", said)]
    finally:
        rt.store.close()


def test_a_step_that_cannot_be_committed_stops_the_daemon_instead_of_trading_on(tmp_path: Path) -> None:
    """Another writer puts an equity row at a bar time the daemon has not
    stepped yet: that step's commit fails. The engine's memory is then past
    what the database holds, so the daemon stops (it went on before, its
    later steps built on bars it never stored) and says why."""
    import pytest

    from bot.step_record import StepNotCommitted

    config = write_config(tmp_path, {"mode": "live", "timeframe": "1s", "schedule": {"bar_delay_seconds": 0.05}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=300))
    db = tmp_path / "bot.sqlite"
    # The other writer's row is in place before the daemon starts, at a bar
    # a few seconds ahead: however slow the machine, that bar's step comes
    # (live or in the catch-up) and meets it; no race on when it is written.
    ahead = (int(time.time()) + 5) * SECOND
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO equity (ts, cash, position_value, equity, realized_pnl, unrealized_pnl, "
                     "fees_paid) VALUES (?, 1, 0, 1, 0, 0, 0)", (ahead,))
    try:
        with pytest.raises(StepNotCommitted, match="could not be committed: UNIQUE constraint failed: equity.ts"):
            run_live(rt, stop_after_seconds=120)  # the limit only catches a daemon that went on
    finally:
        rt.store.close()
    assert rows(db, "SELECT MAX(ts) FROM bars")[0][0] == ahead - SECOND  # nothing of the failed step or after
    log = (tmp_path / "bot.jsonl").read_text()
    assert '"step_not_committed"' in log and '"bar_job_failed"' not in log


def test_a_step_that_fails_before_its_commit_stops_the_daemon_and_says_so_in_the_events(tmp_path: Path) -> None:
    """A fault inside a step (1e308 overflowed the features) was logged as
    bar_job_failed, and the same bar tried again at every firing on memory
    the failed step had half moved: nothing stepped, and nothing in the
    events for status or a notification to show."""
    import pytest

    from bot.step_record import StepNotCommitted

    config = write_config(tmp_path, {"mode": "live", "timeframe": "1s", "schedule": {"bar_delay_seconds": 0.05}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=300))
    advance, seen = rt.engine._advance_features, []

    def failing_at_the_305th(bar):
        seen.append(bar.ts)
        if len(seen) == 305:
            raise ValueError("math domain error")
        return advance(bar)

    rt.engine._advance_features = failing_at_the_305th
    try:
        with pytest.raises(StepNotCommitted, match="failed before it was committed: math domain error"):
            run_live(rt, stop_after_seconds=120)  # the limit only catches a daemon that went on
    finally:
        rt.store.close()
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT MAX(ts) FROM bars")[0][0] == seen[-1] - SECOND  # the steps before it, and not it
    [(message,)] = rows(db, "SELECT message FROM events WHERE kind = 'daemon_stopped'")
    assert "math domain error" in message and message.endswith("restart to resume")
    assert '"bar_job_failed"' not in (tmp_path / "bot.jsonl").read_text()


def test_a_firing_that_fails_outside_the_step_is_in_the_events_once(tmp_path: Path) -> None:
    """Such a failure was a log line only; now each distinct one is an
    event (status, notifications), once however often it repeats."""
    import os
    import signal

    config = write_config(tmp_path, {"mode": "live", "timeframe": "1s", "schedule": {"bar_delay_seconds": 0.05}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=300))
    failed = []

    def broken_watch(now_ms, last_ts):
        failed.append(now_ms)
        if len(failed) == 3:  # three firings failed the same way: ask the daemon to stop, as a user would
            os.kill(os.getpid(), signal.SIGTERM)
        raise RuntimeError("stall watch broke")

    rt.bar_job.stalls.events = broken_watch
    try:
        run_live(rt, stop_after_seconds=120)  # the limit only catches a daemon that did not stop
    finally:
        rt.store.close()
    assert len(failed) >= 3
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT message FROM events WHERE kind = 'bar_job_failed'") == [
        ("a firing failed: RuntimeError: stall watch broke",)]
    # Each firing's log line names the cause (the console showed the event's name alone).
    logged = [line for line in (tmp_path / "bot.jsonl").read_text().splitlines()
              if '"bar_job_failed"' in line and '"logger": "bot.app.daemon"' in line and '"message"' not in line]
    assert len(logged) >= 3 and all('"error": "RuntimeError: stall watch broke"' in line for line in logged)


def test_a_step_that_does_not_end_is_reported_with_its_line_and_again_when_it_ends(tmp_path: Path) -> None:
    """A step that never returned (a strategy's endless loop, a call that
    hangs) left the daemon up and blind: no step, no paper stop, no event."""
    config = write_config(tmp_path, {"mode": "live", "timeframe": "1s",
                                     "schedule": {"bar_delay_seconds": 0.05, "stuck_step_seconds": 1.0}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=300))
    db = tmp_path / "bot.sqlite"
    advance, seen, release = rt.engine._advance_features, [], threading.Event()

    def hanging_at_the_305th(bar):
        seen.append(bar.ts)
        if len(seen) == 305:
            release.wait(120)  # the line the report names
        return advance(bar)

    def events(kind: str) -> list[str]:
        try:
            return [m for (m,) in rows(db, f"SELECT message FROM events WHERE kind = '{kind}'")]
        except sqlite3.OperationalError:
            return []

    def reports_of_the_hang() -> list[str]:
        # A step slowed past 1 s by a loaded machine is reported too; only the hang's report counts here.
        return [m for m in events("bar_step_stuck") if " in hanging_at_the_305th " in m]

    def unstick_then_stop() -> None:
        wait_until(reports_of_the_hang, timeout_s=120, what="the stuck step's report")
        release.set()
        stop_when(lambda: events("bar_step_unstuck") and rows(db, "SELECT MAX(ts) FROM bars")[0][0] > seen[304],
                  finished)

    rt.engine._advance_features = hanging_at_the_305th
    finished = threading.Event()
    watcher = threading.Thread(target=unstick_then_stop)
    watcher.start()
    try:
        run_live(rt, stop_after_seconds=300)  # the limit only catches a daemon that hung for good
    finally:
        finished.set()
        release.set()
        watcher.join()
        rt.store.close()
    [stuck] = reports_of_the_hang()
    line = hanging_at_the_305th.__code__.co_firstlineno + 3
    assert f"at test_live_daemon.py:{line} in hanging_at_the_305th (waiting in threading.py:" in stuck, stuck
    assert "schedule.stuck_step_seconds 1" in stuck
    ended = events("bar_step_unstuck")
    assert ended and all(m.startswith("the stuck bar step ended after ") for m in ended), ended


def test_a_daemon_stopped_by_its_failing_database_still_says_so(tmp_path: Path) -> None:
    """Its own events were stored first, then logged and notified: with the
    database the fault (a full disk), the stop that followed reached
    neither the operator's notifications nor the log."""
    config = write_config(tmp_path, {"mode": "live", "timeframe": "1s", "schedule": {"bar_delay_seconds": 0.05}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    rt = build_runtime(cfg, clock=SystemClock(), feed=WallClockFeed(history_bars=300))
    notified = []
    rt.bar_job.notify = notified.append

    def disk_full(*_args, **_kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    rt.store.commit_step = disk_full
    rt.store.add_event = disk_full
    try:
        with pytest.raises(StepNotCommitted, match="database or disk is full"):
            run_live(rt, stop_after_seconds=120)  # the limit only catches a daemon that did not stop
    finally:
        rt.store.close()
    said = [e for e in notified if e.kind == "daemon_stopped"]
    assert len(said) == 1 and "database or disk is full" in said[0].message and "restart to resume" in said[0].message
    logged = [line for line in (tmp_path / "bot.jsonl").read_text().splitlines() if '"daemon_stopped"' in line]
    assert logged, "no log line of the stop"
