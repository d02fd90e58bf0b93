"""The bot on PostgreSQL, end to end, on the tests' own server: a replay
writes the same ledger as on SQLite, a reader never creates a run, and a
password in the URL is never printed."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from urllib.parse import quote

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


def test_a_read_only_role_reads_a_named_run(postgres, tmp_path: Path) -> None:
    """Every reader ran CREATE SCHEMA IF NOT EXISTS for the run's schema,
    which PostgreSQL refuses to a role without CREATE on the database even
    when the schema exists: a dashboard's read-only login could not read."""
    url = postgres.new_database()
    named = f"{url}?options={quote('-csearch_path=run_watched')}"
    done = run_bot("run", "-c", str(write_config(tmp_path, {"storage": {"db_url": named}})), "--max-bars", "30")
    assert done.returncode == 0, done.stderr
    with psycopg_connection(url) as conn:
        database = url.rsplit("/", 1)[1]
        role = f"watcher_{database}"  # roles are the server's, not the database's
        for grant in (f'CREATE ROLE "{role}" LOGIN', f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"',
                      f'GRANT USAGE ON SCHEMA run_watched TO "{role}"',
                      f'GRANT SELECT ON ALL TABLES IN SCHEMA run_watched TO "{role}"'):
            conn.execute(grant)
    watcher = named.replace("postgres@", f"{role}@")
    (tmp_path / "watcher").mkdir()
    status = run_bot("status", "-c", str(write_config(tmp_path / "watcher", {"storage": {"db_url": watcher}})))
    assert status.returncode == 0, status.stderr
    assert "BTC/USDT last bar" in status.stdout and "2023-01-02T05:00:00Z" in status.stdout, status.stdout


def test_db_upgrade_on_an_empty_database_makes_no_run(postgres, tmp_path: Path) -> None:
    """It checked only that a SQLite file existed: on a server it created the
    tables of a run nobody started."""
    url = postgres.new_database()
    done = run_bot("db", "upgrade", "-c", str(write_config(tmp_path, {"storage": {"db_url": url}})))
    assert done.returncode == 1 and "no run yet in" in done.stderr and "nothing to upgrade" in done.stderr
    assert rows_at(url, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_a_search_path_in_the_url_is_a_runs_schema_or_refused(postgres, tmp_path: Path) -> None:
    """The schema name went into CREATE SCHEMA as it was: a crafted one
    dropped a table; any other search_path crashed with the driver's text."""
    url = postgres.new_database()
    with psycopg_connection(url) as conn:
        conn.execute("CREATE TABLE victim (x int)")
    for schema in ('run_x";DROP TABLE public.victim;--', 'run_x"y', "myschema"):
        crafted = f"{url}?options={quote('-csearch_path=' + schema)}"
        done = run_bot("run", "-c", str(write_config(tmp_path, {"storage": {"db_url": crafted}})), "--max-bars", "5")
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("config error: storage.db_url: options may set search_path only to run_<name>")
    assert rows_at(url, "SELECT COUNT(*) FROM victim") == [(0,)]


def test_a_password_given_as_a_url_parameter_is_never_printed(postgres, tiny_run: Path, tmp_path: Path) -> None:
    url = postgres.new_database() + "?password=s3cret-query-pw"  # the server trusts local users
    config = write_config(tmp_path, {"storage": {"db_url": url}})
    done = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "50", timeout=600)
    assert done.returncode == 0, done.stderr
    status = run_bot("status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    for output in (done.stdout, done.stderr, status.stdout, status.stderr, (tmp_path / "bot.jsonl").read_text()):
        assert "s3cret-query-pw" not in output
    assert "password=***" in done.stderr


def test_a_server_that_cannot_be_reached_is_named_by_readers_as_by_writers(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:9/nothing"  # a port nothing listens on
    config = str(write_config(tmp_path, {"storage": {"db_url": url}}))
    for command in (("status",), ("report",), ("run", "--max-bars", "1")):
        done = run_bot(*command, "-c", config)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.startswith("config error: storage.db_url: cannot reach the database ("), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def psycopg_connection(url: str):
    import psycopg

    return closing(psycopg.connect(url, autocommit=True))
