"""Where a run writes must be writable at start, not at the first model
write hours later: the models directory is created and probed, and the
database's directory too, and a backtest's output directory. Outside
bot.store, whose import brings pandas and SQLAlchemy: the CLI checks
before it loads either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.config import ConfigError


def check_writable_directory(directory: Path, field: str) -> list[Path]:
    """ConfigError naming `field` unless files can be created in `directory`.
    Returns the directories it created, outermost first: a caller that
    refuses on a later check removes them (`remove_created`), so a refused
    command leaves no empty directory behind."""
    created = _missing(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_created(created)
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{field}: cannot write in {directory} ({reason})") from None
    return created


def _missing(directory: Path) -> list[Path]:
    """`directory` and its ancestors that do not exist yet, outermost first."""
    absent = []
    for path in (directory, *directory.parents):
        if path.exists() or path.is_symlink():
            break
        absent.append(path)
    return absent[::-1]


def remove_created(created: list[Path]) -> None:
    """Remove what check_writable_directory created, innermost first, while
    each is still empty (anything written into one since stays)."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            return
