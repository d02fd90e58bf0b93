"""A file the user asked for (a CSV, a report, a result) is written whole
or not at all: into a temporary file beside it, renamed over its name
once complete. Written in place, a full disk left a truncated CSV where a
good one had been, and the CSV reader took the stub."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


def write_whole(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(temporary)` fills a file in `path`'s directory, which then
    replaces `path`; on any failure `path` is as it was."""
    # A compressed name keeps its suffix (pandas picks the compression by
    # it); any other ends in .part, so that no one's *.json or *.csv takes
    # the half-written file a killed process leaves.
    suffix = f".part{path.suffix}" if path.suffix in COMPRESSED else ".part"
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_whole(path: Path, text: str) -> None:
    write_whole(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
