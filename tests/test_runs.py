"""Several runs in one PostgreSQL database: two daemons, each under its own
run name, trade side by side with separate books (each the book the same
config makes alone on SQLite), and a second daemon on a run already held
is refused by the run's advisory lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, replay, rows, rows_at, wait_until, write_config
from test_config_errors import run_bot

pytestmark = pytest.mark.slow

FILLS = "SELECT order_id, side, qty, price, fee, ts, realized_pnl FROM fills ORDER BY id"
# Beta's own thresholds and position size: its books differ from alpha's
# whatever the tiny model says (thresholds alone can pick the same bars).
BETA = {"strategy": {"params": {"enter_above": 0.55, "exit_below": 0.5}}, "risk": {"max_position_fraction": 0.3}}


def daemon(config: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config), "--no-progress"], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=(config.parent / "run.txt").open("w"))


def holds_the_run(url: str, run: str) -> bool:
    """Someone holds `run`'s advisory lock (its daemon took the lease)."""
    from bot.run_names import run_url
    from bot.writer_lease import LOCK_CLASS, run_lock_id

    held = rows_at(url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        f"AND classid = {LOCK_CLASS} AND objid = {run_lock_id(run_url(url, run))}")
    return held[0][0] > 0


def test_two_runs_share_a_database_with_separate_books(postgres, tiny_run: Path, tmp_path: Path) -> None:
    url = postgres.new_database()
    (tmp_path / "alpha").mkdir(), (tmp_path / "beta").mkdir(), (tmp_path / "beta_alone").mkdir()
    alpha = write_config(tmp_path / "alpha", {"storage": {"db_url": url, "run": "alpha"}})
    beta = write_config(tmp_path / "beta", {**BETA, "storage": {"db_url": url, "run": "beta"}})
    runs = {"alpha": daemon(alpha), "beta": daemon(beta)}
    try:
        wait_until(lambda: holds_the_run(url, "alpha"), timeout_s=120, what="alpha's daemon to hold its run",
                   process=runs["alpha"], output=tmp_path / "alpha" / "run.txt")
        # Paused, alpha keeps its server session and the lock with it, however
        # fast the machine would otherwise finish its replay.
        runs["alpha"].send_signal(signal.SIGSTOP)
        try:
            second = run_bot("run", "-c", str(alpha), "--no-progress")
        finally:
            runs["alpha"].send_signal(signal.SIGCONT)
        assert second.returncode == 2, second.stderr
        holder = f"bot run (replay) (pid {runs['alpha'].pid}"
        assert f"refused: the run is in use by {holder}" in second.stderr, second.stderr
        for name, process in runs.items():
            assert process.wait(timeout=600) == 0, (tmp_path / name / "run.txt").read_text()[-2000:]
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
    # Each run's book is the one its config makes alone.
    replay(write_config(tmp_path / "beta_alone", BETA))
    alone = {"alpha": rows(tiny_run / "bot.sqlite", FILLS), "beta": rows(tmp_path / "beta_alone" / "bot.sqlite", FILLS)}
    assert alone["alpha"] != alone["beta"]  # two configs, two books
    for run, config in (("alpha", alpha), ("beta", beta)):
        from bot.run_names import run_url

        assert rows_at(run_url(url, run), FILLS) == alone[run], run
        report = json.loads(run_bot("report", "-c", str(config), "--json").stdout)
        assert report["fills"] == len(alone[run])
    # The database's default run holds nothing: every table went to a run's schema.
    assert rows_at(url, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    assert {s for (s,) in rows_at(url, "SELECT schema_name FROM information_schema.schemata "
                                       "WHERE schema_name LIKE 'run_%'")} == {"run_alpha", "run_beta"}


def test_a_run_name_on_sqlite_is_refused_naming_the_field(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"storage": {"run": "alpha"}})
    result = run_bot("run", "-c", str(config), "--no-progress")
    assert result.returncode == 2 and "storage.run" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_fresh_leaves_the_models_of_another_run_in_the_database(postgres, tmp_path: Path) -> None:
    """Runs main and eth in one database, pointed at one models_dir: eth was
    refused with advice to `bot run --fresh`, which replaced main's version
    directories (the same training dates, the same names) and its RUN_ID."""
    from test_config_errors import assert_refused

    url, models = postgres.new_database(), tmp_path / "models"
    (tmp_path / "main").mkdir(), (tmp_path / "eth").mkdir()
    main, eth = (write_config(tmp_path / run, {"storage": {"db_url": url, "run": run, "models_dir": str(models)}})
                 for run in ("main", "eth"))
    assert run_bot("run", "-c", str(main), "--max-bars", "900", "--no-progress", timeout=600).returncode == 0
    run_main = (models / "RUN_ID").read_text().strip()
    before = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}
    assert any(p.parent.name.startswith("v0001-") for p in before)
    plain = run_bot("run", "-c", str(eth), "--max-bars", "5", "--no-progress")
    assert_refused(plain, "storage.models_dir")
    assert "start over" not in plain.stderr and "a storage.models_dir of its own" in plain.stderr
    fresh = run_bot("run", "-c", str(eth), "--max-bars", "5", "--no-progress", "--fresh")
    assert_refused(fresh, "storage.models_dir")
    assert f"holds the models of run {run_main}" in fresh.stderr, fresh.stderr
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == before
    resumed = run_bot("run", "-c", str(main), "--max-bars", "905", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
