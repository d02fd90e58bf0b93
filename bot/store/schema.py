"""The schema's version, kept by alembic: a new database is made from the
tables and stamped with the newest migration; an existing one is moved
forward by `bot db upgrade`, never silently, and a database this version
cannot read is refused with what to do.

A database from before migrations carries run_meta's schema_version 6,
which is the baseline migration 0001: it is stamped so on first open.

Opening a database at the newest migration, or making a new one, does not
import alembic (a fifth of a second of every start, a thirtieth of a whole
replay): the revision is one row of alembic's own version table, read and
written here as alembic lays it out. Anything else goes through alembic."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, select
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
HEAD = "0002"  # the newest migration; tests/test_migrations.py holds it to alembic's own head
LEGACY_SCHEMA_VERSION = "6"  # run_meta's schema_version before migrations: the baseline

# alembic's version table, as alembic itself creates it
VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return HEAD


@cache
def known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions())


class MigrationRecordError(ValueError):
    """The record of the database's migration says two things at once."""


def revision(engine: Engine) -> str | None:
    """The database's migration; None before any."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE.name):
            return None
        found = conn.execute(select(VERSION_TABLE.c.version_num)).scalars().all()
    if len(found) > 1:
        raise MigrationRecordError(
            f"its {VERSION_TABLE.name} table names several migrations at once ({', '.join(found)}), which "
            "alembic never writes: edited by hand or restored in pieces; keep only the row of the migration "
            "its tables are at, or restore the database from a backup"
        )
    return found[0] if found else None


def missing_tables(engine: Engine) -> list[str]:
    """The bot's tables a database at the newest migration lacks: dropped
    by hand or by a damaged restore. Readers then failed on the first query
    that met the hole, or answered as if nothing had happened."""
    from bot.store.tables import metadata

    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
    return sorted(set(metadata.tables) - present)


def foreign_table(engine: Engine) -> str | None:
    """A table named like one of the bot's that is not the bot's: it lacks
    one of the bot's columns (another program's `bars` or `events` in a
    shared database). Reading it failed with a page of SQL, and an empty
    one was taken for a first start cut short and dropped. What it is, or
    None. Every migration so far keeps the columns of the baseline; one that
    adds a column must compare with the oldest migration a database may be at."""
    from bot.store.tables import metadata

    with engine.connect() as conn:
        found = inspect(conn).get_multi_columns(filter_names=list(metadata.tables))
    for (_, name), columns in sorted(found.items()):
        have = [c["name"] for c in columns]
        lacking = [c for c in metadata.tables[name].columns.keys() if c not in have]
        if lacking:
            shown = ", ".join(have[:8]) + (", ..." if len(have) > 8 else "")
            return f"its table {name} is not the bot's (columns {shown}; it lacks {', '.join(lacking[:4])})"
    return None


def stamp_new(conn: Connection) -> None:
    """Mark a database just made from the tables as at the newest
    migration, in the transaction that made them."""
    VERSION_TABLE.create(conn)
    conn.execute(VERSION_TABLE.insert().values(version_num=HEAD))


def stamp(engine: Engine, to: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.stamp(_config(conn), to)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every migration the database lacks; (from, to) revisions."""
    from alembic import command

    before = revision(engine)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
    return before, head()


def problem(found: str | None) -> str | None:
    """Why a database at revision `found` cannot be used as it is; None if it can."""
    if found == head():
        return None
    if found in known_revisions():
        return f"its tables are at migration {found}, this version needs {head()}: run `bot db upgrade` first"
    if found is None:
        # A run's database is stamped when made (or adopted from before
        # migrations), so the record was lost: an upgrade from nothing
        # failed on "table bars already exists".
        return (
            f"it holds the bot's tables but no record of their migration (no {VERSION_TABLE.name} row); "
            "restore that table from a backup of this database"
        )
    # An unknown migration is most likely a newer bot's: starting over would
    # erase that run, so the way out named first is the one that keeps it.
    return (
        f"its tables are at {found or 'no known version'}, which this version of the bot cannot read: "
        "if a newer version of the bot wrote them, upgrade this one; if they are no run of this bot, "
        "use another storage.db_url (`bot run --fresh` would erase what is there)"
    )
