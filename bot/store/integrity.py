"""Lost state must not look fine. A database file that exists but is empty,
damaged or not a run of this bot is refused at start, never silently
replaced by a new run (which would also overwrite the old run's model
files). Each run has an id, written at creation in the database and in its
models directory; a database and a models directory of different runs are
refused as a pair. `bot run --fresh` is the way to start over on purpose,
and it removes only models it can prove are the run's own (foreign_models):
a models directory several runs were pointed at held the versions of the
first, whose names (v0001-<date>) a second run with the same training
dates writes too; a --fresh of the second, as the refusal advised, replaced
the first run's weights and its RUN_ID."""

from __future__ import annotations

import os
import re
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
# What the registry writes in the models directory: one directory per
# version (v0001-20240101T0000), and its temporary twin while it is written.
MODEL_VERSION_DIR = re.compile(r"\.?(v\d{4,}-\d{8}T\d{4})(\.tmp)?")


def own_models_dir(models_dir: Path, *, fresh_note: bool = True) -> str:
    """The advice where --fresh would refuse: the models are not provably this run's."""
    note = "`bot run --fresh` removes only this run's own models; " if fresh_note else ""
    return (
        f"give this run a storage.models_dir of its own ({note}if that run is gone for good, "
        f"remove its model versions and RUN_ID from {models_dir} by hand)"
    )


def model_version_entries(models_dir: Path) -> dict[str, str]:
    """The registry's entries in `models_dir`: entry name -> version."""
    if not models_dir.is_dir():
        return {}
    found = {}
    for entry in models_dir.iterdir():
        matched = MODEL_VERSION_DIR.fullmatch(entry.name)
        if matched and entry.is_dir() and not entry.is_symlink():
            found[entry.name] = matched.group(1)
    return found


def foreign_models(models_dir: Path, run_id: str | None, listed: set[str]) -> str | None:
    """What in `models_dir` is not provably the run's whose id is `run_id`
    and whose database lists the versions `listed` (None: nothing; a wipe
    may remove the registry's entries there). The rule: a RUN_ID naming
    this run makes every version there its own (a retrain cut short before
    its row leaves one unlisted); a RUN_ID naming another run, or one this
    run's database cannot confirm (gone, empty, unreadable), makes none of
    them its own; with no RUN_ID, each version must be listed in this run's
    database (a run from before ids). An orphaned RUN_ID cannot be told
    from a run whose database is elsewhere: its models are removed by hand."""
    if not models_dir.is_dir():
        return None
    marker = models_dir / RUN_ID_FILE
    if marker.exists() or marker.is_symlink():
        try:
            owner = marker.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            return f"holds a {RUN_ID_FILE} that cannot be read ({exc})"
        if run_id is not None and owner == run_id:
            return None
        return f"holds the models of run {owner[:40]}" + (f", not of this run ({run_id})" if run_id else "")
    unlisted = sorted(name for name, version in model_version_entries(models_dir).items() if version not in listed)
    if unlisted:
        more = f", {len(unlisted)} in all" if len(unlisted) > 1 else ""
        return f"holds model versions this run's database does not list ({unlisted[0][:60]}{more})"
    return None


def sqlite_run_ownership(db: Path) -> tuple[str | None, set[str]]:
    """The run id a SQLite database holds and the versions it lists; (None,
    set()) for a file that is missing, empty or unreadable. Nothing is left
    beside it that was not there (a WAL database read makes -wal and -shm)."""
    if not db.is_file() or db.stat().st_size == 0:
        return None, set()
    absent = _absent_companions(db)
    run_id, listed = None, set()
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            try:
                row = conn.execute("SELECT value FROM run_meta WHERE key = ?", (RUN_ID_KEY,)).fetchone()
                run_id = str(row[0]) if row is not None and row[0] is not None else None
                listed = {str(v) for (v,) in conn.execute("SELECT version FROM model_versions")}
            except sqlite3.DatabaseError:
                pass  # what was read stands: a run id without a versions table lists none
    except sqlite3.Error:
        return None, set()
    finally:
        _remove_made(absent)
    return run_id, listed


def start_over_advice(models_dir: Path, run_id: str | None = None, listed: set[str] | None = None) -> str:
    """START_OVER where `bot run --fresh` would start over; where it would
    refuse (models not provably this run's), a models directory of its own."""
    if foreign_models(models_dir, run_id, listed or set()) is None:
        return START_OVER
    return own_models_dir(models_dir)


def _absent_companions(db: Path) -> list[Path]:
    return [path for path in (db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")) if not path.exists()]


def _remove_made(absent: list[Path]) -> None:
    """Reading a WAL database, even read-only, made its -wal and -shm files."""
    for path in absent:
        if path.exists() and (path.name.endswith("-shm") or path.stat().st_size == 0):
            path.unlink()


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
                f"storage.db_url: {db} is empty (0 bytes) but {models_dir} holds an earlier run's models; "
                f"restore that run's database, or {start_over_advice(models_dir)}"
            )
        _refuse_orphaned_models(db, models_dir)
        return False
    absent = _absent_companions(db)
    try:
        return _holds_a_run(db, models_dir)
    except ConfigError:
        _remove_made(absent)  # a refused file is left as it was, and nothing beside it
        raise


def _holds_a_run(db: Path, models_dir: Path) -> bool:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            rows = any(conn.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone() for name in tables & OURS)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(_unreadable(db, exc, models_dir)) from None
    if verdict != "ok":
        raise ConfigError(
            f"storage.db_url: {db} is damaged (integrity check: {verdict[:120]}); {_advice_beside(db, models_dir)}"
        )
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
    raise ConfigError(
        f"storage.db_url: {db} holds no run of this bot (no run_meta table); {_advice_beside(db, models_dir)}"
    )


def _advice_beside(db: Path, models_dir: Path) -> str:
    """START_OVER, unless --fresh would refuse the models beside `db`."""
    return start_over_advice(models_dir, *sqlite_run_ownership(db))


def _unreadable(db: Path, exc: sqlite3.DatabaseError, models_dir: Path) -> str:
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
    return f"storage.db_url: {db} is not a readable SQLite database ({reason}); {_advice_beside(db, models_dir)}"


def _refuse_orphaned_models(db: Path, models_dir: Path) -> None:
    """A new database must not adopt the models directory of a run whose
    database is gone: refused before anything is created. Nor may it take
    over versions no RUN_ID names (a run from before ids, or a RUN_ID
    removed): a new run lists none of them, and its v0001 would replace theirs."""
    foreign = foreign_models(models_dir, None, set())
    if foreign is not None:
        raise ConfigError(
            f"storage.models_dir: {models_dir} {foreign}, whose database is not at {db}; "
            f"point storage.db_url at that run's database, or {own_models_dir(models_dir)}"
        )


def verify_run_identity(store, models_dir: Path) -> str:
    """The run's id, written at creation (a run from before ids gets one
    now), checked against the models directory's: a database paired with
    another run's models is refused, since the two would mix versions (and
    the registry would write its v0001 over theirs). A models directory
    without a RUN_ID is claimed only when every version in it is listed in
    this database."""
    run_id = store.get_meta(RUN_ID_KEY)
    if run_id is None:
        run_id = secrets.token_hex(8)
        store.set_meta(RUN_ID_KEY, run_id)
    marker = models_dir / RUN_ID_FILE
    try:
        owner = marker.read_text().strip() if marker.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"storage.models_dir: cannot read {marker} ({exc})") from None
    if owner is None:
        foreign = foreign_models(models_dir, run_id, {v.version for v in store.model_versions()})
        if foreign is not None:
            raise ConfigError(f"storage.models_dir: {models_dir} {foreign}; {own_models_dir(models_dir)}")
        owner = _claim(marker, run_id)
    if owner != run_id:
        raise ConfigError(
            f"storage.models_dir: {models_dir} holds the models of run {owner[:40]}, not of this "
            f"database's run {run_id}; point it at this run's models, or "
            f"{own_models_dir(models_dir)}"
        )
    return run_id


def _claim(marker: Path, run_id: str) -> str:
    """Write the RUN_ID unless another start wrote one first; the owner."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return marker.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"storage.models_dir: cannot read {marker} ({exc})") from None
    with os.fdopen(fd, "w") as file:
        file.write(run_id + "\n")
    return run_id
