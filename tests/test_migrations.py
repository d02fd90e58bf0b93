"""Schema changes go through alembic migrations, on SQLite and on
PostgreSQL: the migrations build exactly the tables the models declare, and
a database a migration behind is refused with what to do until
`bot db upgrade` moves it forward, its rows kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fake_exchange import FakeExchange
from helpers import BUNDLED_BTC, fresh_python_prints, rows_at, write_config
from sqlalchemy import create_engine, inspect
from test_config_errors import assert_refused, run_bot
from test_store import first_step, second_step

from bot.store import Store, schema
from bot.store.store import postgres_url
from bot.store.tables import metadata


def engine_for(url: str):
    return create_engine(postgres_url(url) or url)


def test_the_migrations_build_the_tables_the_models_declare(db_url: str) -> None:
    engine = engine_for(db_url)
    try:
        schema.upgrade(engine)  # from an empty database
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert schema.revision(engine) == schema.head()
    finally:
        engine.dispose()


def test_a_new_database_is_made_at_the_newest_migration(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert schema.revision(store.engine) == schema.head() and store.schema_problem() is None
    finally:
        store.close()


def back_to_the_baseline_as_before_migrations(url: str) -> None:
    """The database as a bot from before migrations left it: the baseline
    tables, no alembic_version, run_meta's schema_version 6."""
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            command.downgrade(schema._config(conn), schema.BASELINE)
            conn.exec_driver_sql("DROP TABLE alembic_version")
            conn.exec_driver_sql("INSERT INTO run_meta (key, value) VALUES ('schema_version', '6')")
    finally:
        engine.dispose()


def test_a_database_a_migration_behind_is_refused_until_bot_db_upgrade(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    store.commit_step(first_step())
    store.commit_step(second_step())
    store.close()
    back_to_the_baseline_as_before_migrations(db_url)
    config = str(write_config(tmp_path, {"storage": {"db_url": db_url}}))

    refused = run_bot("report", "-c", config)
    assert refused.returncode == 2 and "storage.db_url: " in refused.stderr, refused.stderr  # as `bot run` says it
    assert "run `bot db upgrade` first" in refused.stderr, refused.stderr
    assert "at migration 0001" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    # A reader writes nothing, not even the record of the migration: the database may be a daemon's.
    engine = engine_for(db_url)
    try:
        assert not inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()

    upgraded = run_bot("db", "upgrade", "-c", config)
    assert upgraded.returncode == 0 and f"upgraded from migration 0001 to {schema.head()}" in upgraded.stderr
    report = run_bot("report", "-c", config, "--json")
    assert report.returncode == 0 and json.loads(report.stdout)["bars"] == 3  # the rows were kept
    engine = engine_for(db_url)
    try:
        assert "ix_orders_status" in {ix["name"] for ix in inspect(engine).get_indexes("orders")}
    finally:
        engine.dispose()
    again = run_bot("db", "upgrade", "-c", config)
    assert again.returncode == 0 and "already at migration" in again.stderr
    assert rows_at(db_url, "SELECT COUNT(*) FROM fills") == [(1,)]


@pytest.mark.parametrize(("table", "rows"), [("bars", 0), ("events", 0), ("events", 1)])
def test_a_table_of_another_program_named_like_ours_is_refused_and_left_alone(db_url: str, tmp_path: Path,
                                                                            table: str, rows: int) -> None:
    """Another program's `bars` or `events` in a shared database: `bot run`
    failed with a page of SQL (exit 1), and an empty one was taken for a
    first start cut short, whose tables are dropped and made again."""
    engine = engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
            for n in range(rows):
                conn.exec_driver_sql(f"INSERT INTO {table} (id, name) VALUES ({n + 1}, 'theirs')")
    finally:
        engine.dispose()
    config = str(write_config(tmp_path, {"storage": {"db_url": db_url}}))
    refused = run_bot("run", "-c", config, "--max-bars", "5")
    assert_refused(refused, "storage.db_url")
    if db_url.startswith("postgresql") or rows == 0:  # a SQLite file with a row: "holds no run of this bot"
        assert f"its table {table} is not the bot's (columns id, name; it lacks " in refused.stderr
    assert rows_at(db_url, f"SELECT COUNT(*), MIN(name) FROM {table}") == [(rows, "theirs" if rows else None)]
    engine = engine_for(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == {table}  # nothing of ours made beside it
    finally:
        engine.dispose()


def test_a_database_of_an_unknown_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    Store(url).close()
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    config = str(write_config(tmp_path))
    for args in (("report",), ("db", "upgrade")):
        result = run_bot(*args, "-c", config)
        assert result.returncode in (1, 2) and "cannot read" in result.stderr, result.stderr
        assert "if a newer version of the bot wrote them, upgrade this one" in result.stderr
    # `bot download` wrote its candles into it.
    with FakeExchange() as fake:
        fake.add_csv_market("BTC/USDT", BUNDLED_BTC, "1h")
        exchange = {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(), "timeout_ms": 2_000}
        config = str(write_config(tmp_path, {"exchange": exchange}))
        result = run_bot("download", "-c", config, "--since", "2023-01-01", "--until", "2023-01-03")
    assert result.returncode == 2 and "cannot read" in result.stderr, result.stderr
    assert rows_at(url, "SELECT COUNT(*) FROM candles") == [(0,)]
    assert rows_at(url, "SELECT version_num FROM alembic_version") == [("9999",)]


def test_a_lost_or_doubled_record_of_the_migration_is_said_and_left_alone(tmp_path: Path) -> None:
    """`bot db upgrade` failed on "table bars already exists" when the
    record was dropped, and every command on a Python ValueError when it
    held two rows."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    config = str(write_config(tmp_path))
    for damage, says in (
        ("DROP TABLE alembic_version", "no record of their migration"),
        ("INSERT INTO alembic_version VALUES ('0001')", "names several migrations at once"),
    ):
        (tmp_path / "bot.sqlite").unlink(missing_ok=True)
        store = Store(url)
        store.commit_step(first_step())  # a run's database (an empty one is made again: see below)
        store.close()
        engine = engine_for(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(damage)
        engine.dispose()
        before = (tmp_path / "bot.sqlite").read_bytes()
        for args in (("db", "upgrade"), ("status",)):
            result = run_bot(*args, "-c", config)
            assert result.returncode == 2 and "storage.db_url: " in result.stderr, (args, result.stderr)
            assert says in result.stderr, (args, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1 and "Error" not in result.stderr, result.stderr
        assert (tmp_path / "bot.sqlite").read_bytes() == before


def test_bot_db_upgrade_leaves_a_file_that_holds_no_run_alone(tmp_path: Path) -> None:
    """It filled another program's SQLite database with the bot's tables
    (after which `bot status` took it for a run), and ended in a
    multi-line driver error on a file that is no database at all."""
    config = str(write_config(tmp_path))
    db = tmp_path / "bot.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = db.read_bytes()
    refused = run_bot("db", "upgrade", "-c", config)
    assert_refused(refused, "storage.db_url: ")
    assert "holds no run of this bot" in refused.stderr
    assert db.read_bytes() == before
    db.write_text("not a database, but a note long enough to fill the header of one " * 4)
    refused = run_bot("db", "upgrade", "-c", config)
    assert_refused(refused, "storage.db_url: ")
    assert "is not a readable SQLite database" in refused.stderr


def test_the_head_the_bot_knows_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(schema.MIGRATIONS)).get_heads() == [schema.HEAD]


def test_a_new_database_is_stamped_as_alembic_stamps_one(db_url: str, tmp_path: Path) -> None:
    """A new database's version table is written without alembic; alembic
    must read it as its own, and lay out the same table when it stamps."""
    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == schema.HEAD
            ours = inspect(conn).get_columns("alembic_version"), inspect(conn).get_pk_constraint("alembic_version")
    finally:
        store.close()
    other = create_engine(f"sqlite:///{tmp_path / 'stamped.sqlite'}")
    try:
        schema.stamp(other, schema.HEAD)
        with other.connect() as conn:
            theirs = inspect(conn).get_columns("alembic_version"), inspect(conn).get_pk_constraint("alembic_version")
    finally:
        other.dispose()
    assert [(c["name"], str(c["type"]), c["nullable"]) for c in ours[0]] == [
        (c["name"], str(c["type"]), c["nullable"]) for c in theirs[0]
    ]
    assert ours[1]["constrained_columns"] == theirs[1]["constrained_columns"] == ["version_num"]


def test_opening_a_database_at_the_newest_migration_imports_no_alembic(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from bot.store import Store\n"
        f"url = 'sqlite:///{tmp_path / 'a.sqlite'}'\n"
        "Store(url).close()\n"
        "store = Store(url)\n"
        "assert store.schema_problem() is None\n"
        "store.close()\n"
        "print('alembic' in sys.modules)\n"
    )
    assert fresh_python_prints(code) == "False"


def test_a_first_start_killed_while_it_made_the_tables_starts_again(tmp_path: Path) -> None:
    """SQLite makes each table in a statement of its own: a SIGKILL part way
    through the first start (the crash test hit it on a fast machine) left
    some tables, no record of the migration and no row anywhere, and every
    later start was refused, asking for a backup of that empty database. A
    database that holds rows is still refused and left alone."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    engine = engine_for(url)
    for name in ("bars", "orders", "predictions", "run_meta"):  # as the crash test's kill left them
        metadata.tables[name].create(engine)
    engine.dispose()
    store = Store(url)
    try:
        assert store.schema_problem() is None and schema.revision(store.engine) == schema.head()
        assert schema.missing_tables(store.engine) == []
    finally:
        store.close()

    (tmp_path / "bot.sqlite").unlink()
    engine = engine_for(url)
    for name in ("bars", "run_meta"):
        metadata.tables[name].create(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO bars (symbol, ts, open, high, low, close, volume) VALUES ('BTC/USDT', 0, 1, 1, 1, 1, 1)"
        )
    engine.dispose()
    store = Store(url)
    try:
        assert "no record of their migration" in (store.schema_problem() or "")
        assert rows_at(url, "SELECT COUNT(*) FROM bars") == [(1,)]
    finally:
        store.close()


def test_a_first_start_cut_short_while_it_makes_the_tables_leaves_none(db_url: str, monkeypatch) -> None:
    """The tables and the record of their migration are made in one
    transaction: a first start stopped between them (here, as a SIGKILL
    would, after the tables and before the record) leaves no table behind,
    and the next start makes them all. On SQLite each CREATE TABLE used to
    commit on its own."""

    def stopped_midway(conn) -> None:
        schema.VERSION_TABLE.create(conn)
        raise RuntimeError("stopped before the record of the migration")

    monkeypatch.setattr(schema, "stamp_new", stopped_midway)
    with pytest.raises(RuntimeError, match="stopped before"):
        Store(db_url)
    engine = engine_for(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    monkeypatch.undo()
    store = Store(db_url)
    try:
        assert store.schema_problem() is None and schema.revision(store.engine) == schema.head()
    finally:
        store.close()


def test_a_fresh_start_cut_short_leaves_the_run_as_it_was(db_url: str, monkeypatch) -> None:
    """`bot run --fresh` drops and makes the tables in one transaction: cut
    short midway, the run is still there, whole, and not a database that
    lacks half its tables."""
    store = Store(db_url)
    try:
        store.commit_step(first_step())

        def stopped_midway(conn, **_) -> None:
            raise RuntimeError("stopped after the tables were dropped")

        monkeypatch.setattr(metadata, "create_all", stopped_midway)
        with pytest.raises(RuntimeError, match="stopped after"):
            store.reset()
        monkeypatch.undo()
        assert store.schema_problem() is None and store.bar_count() == len(first_step().bars)
        store.reset()
        assert store.schema_problem() is None and store.bar_count() == 0
    finally:
        store.close()
