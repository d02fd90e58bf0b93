"""One writer per run: while a daemon runs, a second `bot run`, a
`bot run --fresh`, a `bot train` and a `bot download` on its database are
refused in one line naming the daemon, and leave its ledger and models as
they were."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fake_exchange import FakeExchange
from helpers import REPO, rows_at, wait_until, write_config
from test_config_errors import run_bot

from bot.config import ConfigError
from bot.writer_lease import LeaseHeld, lease_file, take_lease


def snapshot(directory: Path) -> tuple[list[str], dict[str, str]]:
    """Every row of the run's database, and every model file's digest."""
    with sqlite3.connect(f"file:{directory / 'bot.sqlite'}?mode=ro", uri=True) as conn:
        rows = list(conn.iterdump())
    files = {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((directory / "models").rglob("*")) if p.is_file()}
    return rows, files


def model_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0]
        except sqlite3.OperationalError:
            return 0  # tables not made yet


def wait_for_first_model(db: Path, daemon: subprocess.Popen, console: Path, seconds: float = 300) -> None:
    wait_until(lambda: model_count(db) > 0, timeout_s=seconds, what="the first model", poll_s=0.5,
               process=daemon, output=console)


def training_events(db: Path, at_least: int) -> list[str] | None:
    """The run's training events in order, once there are `at_least` of them."""
    with sqlite3.connect(db) as conn:
        kinds = [k for (k,) in conn.execute(
            "SELECT kind FROM events WHERE kind IN ('train_requested', 'model_trained', "
            "'model_rejected') ORDER BY id")]
    return kinds if len(kinds) >= at_least else None


@pytest.mark.slow
def test_a_running_daemons_run_is_refused_to_every_other_writer(tmp_path: Path) -> None:
    with FakeExchange() as fake:
        # Daily bars: after its start the daemon sleeps until tomorrow's bar,
        # so nothing it does can change the ledger while the others try.
        fake.add_generated_market("BTC/USDT", "1d", seed=4)
        config = write_config(tmp_path, {
            "mode": "live", "timeframe": "1d",
            "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(),
                         "timeout_ms": 2_000},
            "retrain": {"initial_train_bars": 250, "train_window_bars": 250, "every_days": 30},
        })
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
        with (tmp_path / "console.txt").open("w+") as console:
            daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO, env=env,
                                      stdout=console, stderr=console, text=True)
            try:
                wait_for_first_model(tmp_path / "bot.sqlite", daemon, tmp_path / "console.txt")
                before = snapshot(tmp_path)
                for args in (["run"], ["run", "--fresh"], ["train", "--no-progress"],
                             ["download", "--since", "2024-01-01"]):
                    result = run_bot(*args, "-c", str(config))
                    lines = result.stderr.strip().splitlines()
                    assert result.returncode == 2, result.stderr
                    assert len(lines) == 1 and lines[0].startswith("refused: "), result.stderr
                    assert f"pid {daemon.pid} " in lines[0] and "bot run" in lines[0]
                    assert f"`bot {args[0]}" in lines[0]
                assert snapshot(tmp_path) == before  # not a row, not a model file changed
                assert daemon.poll() is None  # and the daemon carries on
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
    lease = take_lease(f"sqlite:///{tmp_path / 'bot.sqlite'}", "test", 0)  # free once the daemon is gone
    assert lease is not None
    lease.release()


HOLD = """
import sys, time
from bot.writer_lease import take_lease
lease = take_lease(sys.argv[1], "holder", 0)  # kept: a dropped lease is released
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_leaves_no_stale_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'bot.sqlite'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeld, match=rf"holder \(pid {holder.pid} on .+, since 1970-01-01T00:00:00Z\)"):
            take_lease(url, "second", 0)
        assert "holder" in lease_file(tmp_path / "state" / "bot.sqlite").read_text()  # the refusal kept the note
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait(timeout=10)
    lease = take_lease(url, "after", 0)
    assert lease is not None and (os.stat(lease.path).st_mode & 0o777) == 0o600
    lease.release()


def test_a_postgresql_run_is_held_by_an_advisory_lock_a_killed_holder_lets_go(postgres, tmp_path: Path) -> None:
    url = postgres.new_database()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeld, match=rf"in use by holder \(pid {holder.pid} on .+, since 1970-01-01"):
            take_lease(url, "second", 0)
        # A second daemon on the same run is refused in one line, and writes nothing.
        config = write_config(tmp_path, {"storage": {"db_url": url}})
        refused = run_bot("run", "-c", str(config), "--no-progress")
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and f"pid {holder.pid}" in lines[0], refused.stderr
        assert rows_at(url, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'bars'") == [(0,)]
    finally:
        holder.kill()  # SIGKILL: the server ends its session, and the lock with it
        holder.wait(timeout=10)
    lease = wait_until(lambda: _free(url), timeout_s=60, what="the server to drop the killed holder's lock")
    lease.release()


def _free(url: str):
    try:
        return take_lease(url, "after", 0)
    except LeaseHeld:
        return None


def test_another_name_for_the_same_database_is_the_same_run(tmp_path: Path) -> None:
    """The lease sat beside the name the config gave: through a symbolic
    link `bot train` trained and promoted under a running daemon, and a
    hard link kept its writes in a journal of its own."""
    real = tmp_path / "state" / "bot.sqlite"
    real.parent.mkdir()
    sqlite3.connect(real).close()
    lease = take_lease(f"sqlite:///{real}", "the daemon", 0)
    try:
        linked = tmp_path / "elsewhere.sqlite"
        linked.symlink_to(real)
        with pytest.raises(LeaseHeld, match="the daemon"):
            take_lease(f"sqlite:///{linked}", "bot train", 0)
    finally:
        lease.release()
    twin = tmp_path / "twin.sqlite"
    twin.hardlink_to(real)
    for name in (real, twin):
        with pytest.raises(ConfigError, match="has 2 names \\(hard links\\)"):
            take_lease(f"sqlite:///{name}", "bot run", 0)


def test_an_unknown_database_kind_takes_no_lease() -> None:
    assert take_lease("mysql://u@localhost/bot", "bot run", 0) is None


def test_train_against_a_running_daemon_is_handed_to_it_as_a_request(tmp_path: Path) -> None:
    from test_live_end_to_end import live_rhythm_config

    with FakeExchange() as fake:
        fake.add_generated_market("BTC/USDT", "1s", seed=6)
        config = live_rhythm_config(tmp_path, fake, timeout_ms=2_000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
        db = tmp_path / "bot.sqlite"
        with (tmp_path / "console.txt").open("w+") as console:
            daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO, env=env,
                                      stdout=console, stderr=console, text=True)
            try:
                wait_for_first_model(db, daemon, tmp_path / "console.txt")
                refused = run_bot("train", "--no-progress", "-c", str(config))
                assert refused.returncode == 2 and "`bot train --request`" in refused.stderr
                asked = run_bot("train", "--request", "-c", str(config))
                assert asked.returncode == 0 and "training requested" in asked.stderr, asked.stderr
                kinds = wait_until(lambda: training_events(db, at_least=3), timeout_s=300,
                                   what="the requested training", poll_s=0.5, process=daemon,
                                   output=tmp_path / "console.txt")
                # The first model, then the requested one: trained once more, by the daemon itself.
                assert kinds[0] == "model_trained" and kinds[1] == "train_requested", kinds
                assert kinds[2] in ("model_trained", "model_rejected") and len(kinds) == 3, kinds
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
        assert daemon.returncode == 0
