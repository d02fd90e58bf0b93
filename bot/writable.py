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


def check_writable_directory(directory: Path, field: str) -> None:
    """ConfigError naming `field` unless files can be created in `directory`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{field}: cannot write in {directory} ({reason})") from None
