"""Lost state must not look fine. A database file that exists but is empty,
damaged or not a run of this bot is refused at start, never silently
replaced by a new run (which would also overwrite the old run's model
files). Each run has an id, written at creation in the database and in its
models directory; a database and a models directory of different runs are
refused as a pair. `bot run --fresh` is the way to start over on purpose."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

from bot.config import ConfigError
from bot.db_file_name import one_name
from bot.store.schema import VERSION_TABLE
from bot.store.tables import metadata


def _has_models(models_dir: Path) -> bool:
    return models_dir.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in models_dir.iterdir())


START_OVER = "move it away, or start over on purpose with `bot run --fresh`"
RUN_ID_KEY = "run_id"
RUN_ID_FILE = "RUN_ID"  # in the models directory: whose models these are
OURS = {*metadata.tables, VERSION_TABLE.name}  # the tables a run of this bot makes


def check_existing_database(db: Path, models_dir: Path) -> bool:
    """Whether `db` holds a run (False: a place where a new run starts).
    ConfigError naming storage.db_url when it exists but is no usable run,
    or storage.models_dir when it is missing beside a run's models."""
    if not db.exists():
        one_name(db)  # a loop of symbolic links "exists" no more than a new run's name
        _refuse_orphaned_models(db, models_dir)
        return False
    one_name(db)  # readers too: through another name they miss the writer's journal
    if db.stat().st_size == 0:
        # What sqlite3.connect leaves when a reader opens a path before the
        # first run wrote it: a new run may start there, unless models of an
        # earlier run say this file once held it.
        if _has_models(models_dir):
            raise ConfigError(
                f"storage.db_url: {db} is empty (0 bytes) but {models_dir} holds an earlier run's models; {START_OVER}"
            )
        _refuse_orphaned_models(db, models_dir)
        return False
    beside = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
    absent = [path for path in beside if not path.exists()]
    try:
        return _holds_a_run(db, models_dir)
    except ConfigError:
        # A refused file is left as it was, and nothing beside it: reading a
        # WAL database, even read-only, made its -wal and -shm files.
        for path in absent:
            if path.exists() and (path.name.endswith("-shm") or path.stat().st_size == 0):
                path.unlink()
        raise


def _holds_a_run(db: Path, models_dir: Path) -> bool:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            rows = any(conn.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone() for name in tables & OURS)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(_unreadable(db, exc)) from None
    if verdict != "ok":
        raise ConfigError(f"storage.db_url: {db} is damaged (integrity check: {verdict[:120]}); {START_OVER}")
    if tables <= OURS and not rows and not _has_models(models_dir):
        # A first start killed before its tables were made: none, or some
        # (made one by one before they were one transaction), all empty, with
        # no record of their migration. The start makes them; a reader says
        # "no run yet". It was refused as "no run of this bot" (the crash
        # test's kill landed in that first second), or, with run_meta made,
        # sent to a backup of an empty database.
        return False
    if "run_meta" in tables:
        return True
    raise ConfigError(f"storage.db_url: {db} holds no run of this bot (no run_meta table); {START_OVER}")


def _unreadable(db: Path, exc: sqlite3.DatabaseError) -> str:
    """Why `db` could not be read, and what to do. A file another process
    holds, or one on a read-only mount, is not damaged: it was refused with
    advice to start over, which deletes a healthy run."""
    reason = str(exc)
    if "locked" in reason or "busy" in reason:
        return (
            f"storage.db_url: {db} is held by another process ({reason}); try again once it lets go (`fuser` names it)"
        )
    if "unable to open" in reason:
        return (
            f"storage.db_url: {db} cannot be opened ({reason}); check that this user may read and write it "
            "and its directory, which must not be on a read-only mount"
        )
    return f"storage.db_url: {db} is not a readable SQLite database ({reason}); {START_OVER}"


def _refuse_orphaned_models(db: Path, models_dir: Path) -> None:
    """A new database must not adopt the models directory of a run whose
    database is gone: refused before anything is created."""
    marker = models_dir / RUN_ID_FILE
    if marker.is_file():
        raise ConfigError(
            f"storage.models_dir: {models_dir} belongs to another run, whose database is not at "
            f"{db}; point storage.db_url at that run's database, or {START_OVER}"
        )


def verify_run_identity(store, models_dir: Path) -> str:
    """The run's id, written at creation (a run from before ids gets one
    now), checked against the models directory's: a database paired with
    another run's models is refused, since the two would mix versions."""
    run_id = store.get_meta(RUN_ID_KEY)
    if run_id is None:
        run_id = secrets.token_hex(8)
        store.set_meta(RUN_ID_KEY, run_id)
    marker = models_dir / RUN_ID_FILE
    try:
        owner = marker.read_text().strip() if marker.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"storage.models_dir: cannot read {marker} ({exc})") from None
    if owner is not None and owner != run_id:
        raise ConfigError(
            f"storage.models_dir: {models_dir} holds the models of run {owner[:40]}, not of this "
            f"database's run {run_id}; point it at this run's models, or {START_OVER}"
        )
    if owner is None:
        marker.write_text(run_id + "\n")
    return run_id
