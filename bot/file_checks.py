"""Why a path the user named cannot be read as a file, in a few words: a
config, a replay CSV, a strategy. "file not found" for a directory or
/dev/null sent people looking for a file that was there."""

from __future__ import annotations

import os
import re
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


# The name `bot download` and the bundled data give a file: ETH_USDT-1h.csv.gz.
_SYMBOL_FILE_NAME = re.compile(r"([A-Z0-9]+)_([A-Z0-9]+)-([0-9]+[smhdwM])\.csv(\.gz)?")


def named_candles(path: Path) -> tuple[str, str] | None:
    """(symbol, timeframe) a file's name says it holds; None for a name
    that says neither (btc.csv.gz, prices_2024-01.csv)."""
    found = _SYMBOL_FILE_NAME.fullmatch(path.name)
    return (f"{found[1]}/{found[2]}", found[3]) if found is not None else None


def named_for_another_symbol(path: Path, symbol: str) -> str | None:
    """The symbol a file's name says it holds, when that is not `symbol`
    (ETH's hours were reported as BTC/USDT's without a word); None when
    the name says `symbol` or no symbol at all."""
    named = named_candles(path)
    return named[0] if named is not None and named[0] != symbol.upper() else None
