"""Lost state must not look fine. A database file that exists but is empty,
damaged or not a run of this bot is refused at start, never silently
replaced by a new run (which would also overwrite the old run's model
files). `bot run --fresh` is the way to start over on purpose."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.config import ConfigError

def _has_models(models_dir: Path) -> bool:
    return models_dir.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in models_dir.iterdir())


START_OVER = "move it away, or start over on purpose with `bot run --fresh`"


def check_existing_database(db: Path, models_dir: Path) -> None:
    """ConfigError naming storage.db_url when `db` exists but is no usable run."""
    if not db.exists():
        return
    if db.stat().st_size == 0:
        # What sqlite3.connect leaves when a reader opens a path before the
        # first run wrote it: a new run may start there, unless models of an
        # earlier run say this file once held it.
        if _has_models(models_dir):
            raise ConfigError(f"storage.db_url: {db} is empty (0 bytes) but {models_dir} holds an earlier "
                              f"run's models; {START_OVER}")
        return
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"storage.db_url: {db} is not a readable SQLite database ({exc}); {START_OVER}") from None
    if verdict != "ok":
        raise ConfigError(f"storage.db_url: {db} is damaged (integrity check: {verdict[:120]}); {START_OVER}")
    if "run_meta" not in tables:
        raise ConfigError(f"storage.db_url: {db} holds no run of this bot (no run_meta table); {START_OVER}")
