"""Why a path the user named cannot be read as a file, in a few words: a
config, a replay CSV, a strategy. "file not found" for a directory or
/dev/null sent people looking for a file that was there."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def unreadable_file(path: Path) -> str | None:
    """None when `path` is a regular file this process may read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as exc:  # a name too long, a loop of links: the system's own words
        return (exc.strerror or type(exc).__name__).lower()
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None
