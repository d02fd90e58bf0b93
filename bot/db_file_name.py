"""A SQLite run's file by its one name: the name every process that opens
the run must agree on."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.config import ConfigError


def one_name(db: Path) -> Path:
    """The database's own path, whatever name the config gives it: the
    lease sat beside the name as given, so a symbolic link to a running
    run's file was a second writer (it trained and promoted under the
    daemon). A file with several hard links is refused: SQLite keeps a
    journal per name, so each name's writes stay out of the others' view,
    and a copy of one name with its journal opened as damaged. A reader
    through a second name read the file without the writer's journal: a
    run as it was some steps ago, said to be now."""
    try:
        real = db.resolve()
    except RuntimeError:  # Python 3.11's word for a loop of symbolic links
        raise ConfigError(f"storage.db_url: {db} is a loop of symbolic links") from None
    try:
        status = real.stat()
    except FileNotFoundError:
        return real  # a new run: made under this name only
    except OSError as exc:
        raise ConfigError(f"storage.db_url: cannot read {db} ({exc.strerror})") from None
    if not stat.S_ISREG(status.st_mode):  # a directory's own links made it "a file of several names"
        raise ConfigError(f"storage.db_url: {db} is a {_kind(status.st_mode)}, not a database file")
    links = status.st_nlink
    if links > 1:
        raise ConfigError(
            f"storage.db_url: {db} has {links} names (hard links); SQLite keeps a journal per name, so "
            "writes through one are not seen through another: keep one name, and copy it for a backup"
        )
    return real


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
