"""The bot on PostgreSQL, end to end, on the tests' own server: a replay
writes the same ledger as on SQLite, a reader never creates a run, and a
password in the URL is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import rows, rows_at, write_config
from test_config_errors import run_bot

pytestmark = pytest.mark.slow

LEDGER = {
    "fills": "SELECT order_id, side, qty, price, fee, ts, realized_pnl FROM fills ORDER BY id",
    "equity": "SELECT ts, cash, position_value, equity, fees_paid FROM equity ORDER BY ts",
    "predictions": "SELECT symbol, ts, model_version, prob_up, decision, reason FROM predictions ORDER BY ts",
    "models": "SELECT version, status, train_from_ts, train_to_ts FROM model_versions ORDER BY version",
}


def test_a_replay_on_postgresql_writes_the_ledger_it_writes_on_sqlite(postgres, tiny_run: Path,
                                                                      tmp_path: Path) -> None:
    url = postgres.new_database()
    secret_url = url.replace("postgres@", "postgres:s3cret-pw@")  # the server trusts local users
    config = write_config(tmp_path, {"storage": {"db_url": secret_url}})
    done = run_bot("run", "-c", str(config), "--no-progress", timeout=600)
    assert done.returncode == 0, done.stderr
    for name, query in LEDGER.items():
        assert rows_at(url, query) == rows(tiny_run / "bot.sqlite", query), name
    report = run_bot("report", "-c", str(config), "--json")
    assert report.returncode == 0, report.stderr
    printed = done.stdout + done.stderr + report.stdout + report.stderr + (tmp_path / "bot.jsonl").read_text()
    assert "s3cret-pw" not in printed and "postgres:***@" in done.stderr


def test_reading_an_empty_database_is_refused_and_creates_nothing(postgres, tmp_path: Path) -> None:
    url = postgres.new_database()
    config = write_config(tmp_path, {"storage": {"db_url": url}})
    result = run_bot("report", "-c", str(config))
    assert result.returncode != 0 and "no run yet" in result.stderr and "Traceback" not in result.stderr
    assert rows_at(url, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
