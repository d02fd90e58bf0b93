"""A file the user asked for (a CSV, a report, a result) is written whole
or not at all: into a temporary file beside it, renamed over its name
once complete. Written in place, a full disk left a truncated CSV where a
good one had been, and the CSV reader took the stub.

A symbolic link is written through, as the shell's `>` does (renamed over,
the link itself became the file), and the file gets the permissions it
had, or the umask's for a new one (a temporary file is made 0600: a report
came out readable by its owner alone)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


def write_whole(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(temporary)` fills a file in `path`'s directory, which then
    replaces `path`; on any failure `path` is as it was."""
    path = path.resolve() if path.is_symlink() else path
    # A compressed name keeps its suffix (pandas picks the compression by
    # it); any other ends in .part, so that no one's *.json or *.csv takes
    # the half-written file a killed process leaves.
    suffix = f".part{path.suffix}" if path.suffix in COMPRESSED else ".part"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
    try:
        write(temporary)
        _keep_mode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _keep_mode(path: Path, temporary: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def write_text_whole(path: Path, text: str) -> None:
    write_whole(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
