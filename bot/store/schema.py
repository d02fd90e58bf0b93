"""The schema's version, kept by alembic: a new database is made from the
tables and stamped with the newest migration; an existing one is moved
forward by `bot db upgrade`, never silently, and a database this version
cannot read is refused with what to do.

A database from before migrations carries run_meta's schema_version 6,
which is the baseline migration 0001: it is stamped so on first open."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
LEGACY_SCHEMA_VERSION = "6"  # run_meta's schema_version before migrations: the baseline


def _config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: merge them"
    return heads[0]


@cache
def known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions())


def revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def stamp(engine: Engine, to: str) -> None:
    with engine.begin() as conn:
        command.stamp(_config(conn), to)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every migration the database lacks; (from, to) revisions."""
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
    return (
        f"its tables are at {found or 'no known version'}, which this version of the bot cannot read; "
        "start over with `bot run --fresh` or use another storage.db_url"
    )
