"""Lost state must not look fine: an empty, damaged or foreign database is
refused at start (exit 2, one line) and left as it was; what the bot writes
is readable by its owner only."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from helpers import write_config
from test_config_errors import assert_refused, run_bot


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


def corrupt(db: Path) -> None:
    """Garbage over everything after the header page: a torn disk write."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = bytes((i * 37 + 11) % 256 for i in range(len(data) - page))
    db.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """A run through the CLI far enough to train and store its first model."""
    directory = tmp_path_factory.mktemp("run")
    config = write_config(directory)
    result = run_bot("run", "-c", str(config), "--max-bars", "900", "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    return directory


def test_what_the_bot_writes_is_for_its_owner_only(one_run: Path) -> None:
    written = [one_run / "bot.sqlite", one_run / "bot.jsonl", *(one_run / "models").rglob("*")]
    assert any(p.is_file() and p.parent != one_run for p in written)  # model files among them
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


@pytest.mark.parametrize("damage", ["empty", "corrupt", "foreign"])
def test_a_database_that_is_no_usable_run_is_refused_and_kept(damage: str, one_run: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "bot.sqlite"
    if damage == "empty":  # the database of a run whose models are still there
        shutil.copytree(one_run / "models", tmp_path / "models")
        db.touch()
    elif damage == "corrupt":
        db.write_bytes((one_run / "bot.sqlite").read_bytes())
        corrupt(db)
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
    before, models_before = db.read_bytes(), listing(tmp_path / "models")
    for command in (["run", "--no-progress"], ["status"]):
        assert_refused(run_bot(*command, "-c", str(config)), "storage.db_url")
    assert db.read_bytes() == before  # never replaced by a new run
    assert not [p.name for p in tmp_path.glob("bot.sqlite-*")]  # reading it made its -wal and -shm, left behind
    assert listing(tmp_path / "models") == models_before
    if damage == "empty":
        # No database proves those models this run's (their RUN_ID's run may
        # have its database elsewhere): --fresh leaves them to be removed by hand.
        refused = run_bot("run", "-c", str(config), "--fresh", "--max-bars", "5", "--no-progress")
        assert_refused(refused, "storage.models_dir")
        assert "by hand" in refused.stderr and db.read_bytes() == before
        assert listing(tmp_path / "models") == models_before
        shutil.rmtree(tmp_path / "models")
    # Starting over is a deliberate act, and it works.
    assert run_bot("run", "-c", str(config), "--fresh", "--max-bars", "5", "--no-progress").returncode == 0


def test_a_database_another_process_holds_is_not_called_damaged(one_run: Path, tmp_path: Path) -> None:
    """It was "not a readable SQLite database ... start over on purpose with
    `bot run --fresh`": advice that deletes a healthy run."""
    config = write_config(tmp_path)
    shutil.copytree(one_run / "models", tmp_path / "models")
    shutil.copy(one_run / "bot.sqlite", tmp_path / "bot.sqlite")
    holder = sqlite3.connect(tmp_path / "bot.sqlite", isolation_level=None)
    try:  # a write in exclusive locking mode: not even a WAL reader gets in
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE run_meta SET value = value")
        for command in ("status", "pause"):
            refused = run_bot(command, "-c", str(config))
            assert_refused(refused, "storage.db_url: ")
            assert "is held by another process" in refused.stderr and "--fresh" not in refused.stderr, refused.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run_bot("status", "-c", str(config)).returncode == 0


def test_a_reader_through_a_second_name_of_the_database_is_refused(one_run: Path, tmp_path: Path) -> None:
    """Through a hard link a reader missed the writer's journal: it showed
    the run as it was some steps ago, as if now."""
    config = write_config(tmp_path)
    shutil.copytree(one_run / "models", tmp_path / "models")
    real = tmp_path / "real.sqlite"
    shutil.copy(one_run / "bot.sqlite", real)
    (tmp_path / "bot.sqlite").hardlink_to(real)
    for command in ("status", "trades", "report"):
        refused = run_bot(command, "-c", str(config))
        assert_refused(refused, "storage.db_url: ")
        assert "has 2 names (hard links)" in refused.stderr, refused.stderr
    real.unlink()  # one name again
    assert run_bot("status", "-c", str(config)).returncode == 0


def test_an_empty_file_a_reader_left_before_the_first_run_is_used(tmp_path: Path) -> None:
    """sqlite3.connect creates a 0-byte file; with no models of an earlier
    run beside it, it is a new run's place, not lost state."""
    config = write_config(tmp_path)
    sqlite3.connect(tmp_path / "bot.sqlite").close()
    assert (tmp_path / "bot.sqlite").stat().st_size == 0
    assert run_bot("run", "-c", str(config), "--max-bars", "5", "--no-progress").returncode == 0


@pytest.mark.parametrize("left", ["no_table", "some_tables", "run_meta_too", "a_row"])
def test_a_first_start_killed_before_its_tables_were_made_starts_again(tmp_path: Path, left: str) -> None:
    """Killed after its connection made the file (WAL's header) and before
    its tables were committed, a first start left a file with none of them,
    or with some, empty: every restart was refused as "no run of this bot"
    (the crash test's kill landed there). A table holding a row is still
    refused and kept."""
    from sqlalchemy import create_engine

    from bot.store.tables import metadata

    config = write_config(tmp_path)
    db = tmp_path / "bot.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    engine = create_engine(f"sqlite:///{db}")
    if left != "no_table":
        for name in ("bars", "candles", *(("run_meta",) if left == "run_meta_too" else ())):
            metadata.tables[name].create(engine)
    if left == "a_row":
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO candles VALUES ('binance', 'BTC/USDT', '1h', 0, 1, 1, 1, 1, 1)")
    engine.dispose()
    assert db.stat().st_size > 0
    if left != "a_row":  # a reader said "no such table: run_meta"
        for command in (["status"], ["db", "upgrade"]):  # not a run with its tables lost
            said = run_bot(*command, "-c", str(config))
            assert said.returncode == 1 and said.stderr.startswith("error: no run yet in"), said.stderr
    started = run_bot("run", "-c", str(config), "--max-bars", "5", "--no-progress")
    if left == "a_row":
        assert_refused(started, "storage.db_url")
        assert "no run of this bot" in started.stderr
    else:
        assert started.returncode == 0, started.stderr
        assert rows_of(db, "SELECT COUNT(*) FROM bars") == [(5,)]


def test_a_database_and_another_runs_models_are_refused_as_a_pair(one_run: Path, tmp_path: Path) -> None:
    run_id = (one_run / "models" / "RUN_ID").read_text().strip()
    assert rows_of(one_run / "bot.sqlite", "SELECT value FROM run_meta WHERE key = 'run_id'") == [(run_id,)]
    shutil.copytree(one_run / "models", tmp_path / "models")
    config = write_config(tmp_path)
    # No database beside them: a new run must not adopt another run's models.
    assert_refused(run_bot("run", "--no-progress", "-c", str(config)), "storage.models_dir")
    assert not (tmp_path / "bot.sqlite").exists()
    # A database of a different run beside them.
    other = tmp_path / "other"
    other.mkdir()
    assert run_bot("run", "-c", str(write_config(other)), "--max-bars", "5", "--no-progress").returncode == 0
    shutil.copy(other / "bot.sqlite", tmp_path / "bot.sqlite")
    before = (tmp_path / "bot.sqlite").read_bytes()
    result = run_bot("run", "--no-progress", "-c", str(config))
    assert_refused(result, "storage.models_dir")
    assert f"holds the models of run {run_id}" in result.stderr
    assert (tmp_path / "bot.sqlite").read_bytes() == before


def rows_of(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_run_missing_one_of_its_tables_is_refused_by_every_reader(one_run: Path, tmp_path: Path) -> None:
    """With `events` dropped, `bot status` and `bot explain` failed on the
    first query that met the hole (the latter printing the SQL), and
    `bot report` and `bot trades` answered as if nothing had happened."""
    shutil.copytree(one_run / "models", tmp_path / "models")
    db = tmp_path / "bot.sqlite"
    db.write_bytes((one_run / "bot.sqlite").read_bytes())
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE events")
    conn.commit()
    conn.close()  # checkpointed into the file now, not when the connection is collected
    config = write_config(tmp_path)
    before = db.read_bytes()
    for command in (["status"], ["report"], ["trades"], ["explain"], ["run", "--no-progress"]):
        result = run_bot(*command, "-c", str(config))
        assert result.returncode in (1, 2), (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (command, lines)
        assert "it lacks the table events (damaged, or edited by hand)" in lines[0], (command, lines)
    assert db.read_bytes() == before
