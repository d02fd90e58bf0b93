"""The kill switch's halt outlives the process (on SQLite and on
PostgreSQL) until a person runs `bot resume`; a running daemon applies the
resume at its next bar."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import deep_merge, replay, rows_at, write_config
from test_config_errors import run_bot

from bot.app.operator_requests import follow_operator_requests
from bot.app.replay import open_replay
from bot.config import load_config

TIGHT = {"risk": {"max_drawdown_pct": 0.03}}


def risk_state(db: str) -> dict:
    return json.loads(rows_at(db, "SELECT value FROM run_meta WHERE key = 'risk_state'")[0][0])


def test_halt_survives_restarts_until_bot_resume(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, deep_merge(TIGHT, {"storage": {"db_url": db_url}}))
    db = db_url
    replay(config, max_bars=1_300)
    assert risk_state(db)["halted"], "the 3% drawdown limit should have fired by now"
    halted_at = rows_at(db, "SELECT MIN(ts) FROM events WHERE kind = 'kill_switch'")[0][0]
    replay(config)  # a restart: still halted, so no entry after the halt
    late_entries = rows_at(
        db, f"SELECT COUNT(*) FROM orders WHERE reason = 'entry' AND created_ts > {halted_at + 3_600_000}")
    assert late_entries[0][0] == 0
    assert "HALTED" in run_bot("status", "-c", str(config)).stdout

    result = run_bot("resume", "-c", str(config))
    assert result.returncode == 0 and result.stderr.startswith("halt cleared")
    assert not risk_state(db)["halted"]
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'")[0][0] == 1
    assert "active" in run_bot("status", "-c", str(config)).stdout
    again = run_bot("resume", "-c", str(config))
    assert again.returncode == 0 and "not halted" in again.stderr


def test_a_running_daemon_follows_a_resume_request(tmp_path: Path) -> None:
    config = write_config(tmp_path, TIGHT)
    replay(config, max_bars=1_300)
    rt = open_replay(load_config(config))  # stands in for the running daemon
    assert rt.engine.risk.state.halted
    assert run_bot("resume", "-c", str(config)).returncode == 0
    # The daemon's own memory still says halted until its next firing...
    assert rt.engine.risk.state.halted
    follow_operator_requests(rt)
    assert not rt.engine.risk.state.halted
    assert rt.engine.risk.state.peak_equity == rt.engine.ledger.equity
    rt.store.close()


def test_a_resume_beside_a_running_daemon_is_left_to_it(tmp_path: Path) -> None:
    """It wrote the stored risk state beside the daemon, from a copy read
    before (a step committed meanwhile was written over), and the daemon
    then recorded a second 'resumed' event when it acted."""
    from bot.writer_lease import take_lease

    config = write_config(tmp_path, TIGHT)
    replay(config, max_bars=1_300)
    db = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    before = rows_at(db, "SELECT value FROM run_meta WHERE key = 'risk_state'")
    daemon = take_lease(db, "bot run", 0)  # what a running daemon's lease says
    try:
        result = run_bot("resume", "-c", str(config))
    finally:
        daemon.release()
    assert result.returncode == 0 and result.stderr.startswith("halt clears at the running daemon's next bar")
    assert rows_at(db, "SELECT value FROM run_meta WHERE key = 'risk_state'") == before  # the daemon's to write
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'") == [(0,)]
    waiting = "resume (from `bot resume`): at the daemon's next bar"
    # Until the daemon acts, status says the resume is on its way (it said only "`bot resume` clears it").
    assert waiting in " ".join(run_bot("status", "-c", str(config)).stdout.split())
    rt = open_replay(load_config(config))  # the daemon's next firing
    try:
        follow_operator_requests(rt)
    finally:
        rt.store.close()
    assert not risk_state(db)["halted"]
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'") == [(1,)]
    assert waiting not in " ".join(run_bot("status", "-c", str(config)).stdout.split())


def test_a_resume_beside_a_running_replay_says_it_clears_at_the_replays_next_start(tmp_path: Path) -> None:
    """A replay reads operator requests only when it starts (its fills must
    not depend on when a request came), yet `bot resume` beside one said
    "halt clears at the running daemon's next bar": the replay ran on
    halted to its end, and the halt cleared only at the next `bot run`."""
    from rich.console import Console

    from bot.app.replay import run_replay
    from bot.writer_lease import daemon_command, take_lease

    config = write_config(tmp_path, TIGHT)
    replay(config, max_bars=1_300)
    db = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    assert risk_state(db)["halted"]
    lease = take_lease(db, daemon_command(fresh=False, replay=True), 0)  # what `bot run`'s lease says in replay
    rt = open_replay(load_config(config))  # started: it has read its requests
    try:
        result = run_bot("resume", "-c", str(config))
        run_replay(rt, max_bars=200, console=Console(quiet=True), progress=False)  # and replays on
    finally:
        rt.store.close()
        lease.release()
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("halt clears at the running replay's next start (`bot run`)"), result.stderr
    assert risk_state(db)["halted"]  # the replay went on as it started
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'") == [(0,)]
    rt = open_replay(load_config(config))  # its next start
    rt.store.close()
    assert not risk_state(db)["halted"]
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'") == [(1,)]


def test_a_resume_beside_a_command_that_is_no_daemon_waits_for_it_or_says_who_holds_the_run(tmp_path: Path) -> None:
    """Any holder of the run was taken for a daemon: beside `bot train`, or
    another resume at the same moment, a resume said "halt clears at the
    running daemon's next bar" with no daemon to act, and the halt stayed.
    A short holder is waited for; a long one is named, and nothing changes."""
    import threading

    from bot.writer_lease import take_lease

    config = write_config(tmp_path, TIGHT)
    replay(config, max_bars=1_300)
    db = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    before = rows_at(db, "SELECT value FROM run_meta WHERE key = 'risk_state'")
    training = take_lease(db, "bot train", 0)
    try:
        refused = run_bot("resume", "-c", str(config))
    finally:
        training.release()
    assert refused.returncode == 2 and "in use by bot train" in refused.stderr, refused.stderr
    assert rows_at(db, "SELECT value FROM run_meta WHERE key = 'risk_state'") == before
    assert risk_state(db)["halted"]

    from bot.app.operator_requests import _resume_lease

    other = take_lease(db, "a resume from `bot resume`", 0)
    threading.Timer(1.0, other.release).start()  # the other resume is done a second later
    lease, daemon_clears = _resume_lease(load_config(config), "the test")  # in-process: it cannot start late
    assert lease is not None and daemon_clears is None
    lease.release()
    cleared = run_bot("resume", "-c", str(config))
    assert cleared.returncode == 0 and cleared.stderr.startswith("halt cleared"), cleared.stderr
    assert not risk_state(db)["halted"]


def test_resumes_made_at_once_each_count(tmp_path: Path) -> None:
    """Twelve API resumes at once left resumes_seen at 9, or 1: each read
    the risk state, changed it and wrote it back, over the others."""
    import threading

    from bot.app.operator_requests import request_resume
    from bot.store import Store

    config = write_config(tmp_path, TIGHT)
    replay(config, max_bars=1_300)
    cfg = load_config(config)
    store = Store(cfg.db_url)  # one store for every request, as `bot serve` has
    start = threading.Barrier(12)

    def resume(i: int) -> None:
        start.wait()
        request_resume(store, cfg, f"the API (client {i})")

    threads = [threading.Thread(target=resume, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    db = cfg.db_url
    assert risk_state(db)["resumes_seen"] == 12
    assert rows_at(db, "SELECT value FROM run_meta WHERE key = 'resume_requests'") == [("12",)]
    assert rows_at(db, "SELECT COUNT(*) FROM events WHERE kind = 'resumed'") == [(12,)]
