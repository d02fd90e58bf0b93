"""The bundled OHLCV CSV format: timestamp (ms, bar open), open, high, low,
close, volume; plain or gzip."""

from __future__ import annotations

import zlib
from pathlib import Path

import pandas as pd

from bot.brief_text import brief
from bot.file_checks import unreadable_file
from bot.market.errors import DataFileError  # noqa: F401 (raised here, imported from here by callers)

COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


def _first_row(found: pd.Series) -> int:
    """The file row of the first value found, counted from the first row
    after the header, before sorting."""
    return int(found.index[0]) + 1


def _check_milliseconds(path: Path, timestamp: pd.Series) -> None:
    low, high = MS_RANGE
    outside = timestamp[(timestamp < low) | (timestamp >= high)]
    if outside.empty:
        return
    example = int(outside.iloc[0])
    row = _first_row(outside)
    unit = "seconds" if 0 < example < low / 100 else ("microseconds or finer" if example >= high else "no known unit")
    raise DataFileError(
        f"{path}: row {row}: timestamp {example} looks like {unit}; the format wants milliseconds since 1970"
    )


def _check_whole_milliseconds(path: Path, timestamp: pd.Series) -> None:
    """A bar opens on a whole millisecond. A fraction (…000.5) means the
    column is not what the format says, and casting to int64 cut it off
    without a word."""
    if timestamp.dtype.kind != "f":
        return  # whole numbers already, or text the cast below refuses
    fractional = timestamp[timestamp.notna() & (timestamp != timestamp.round())]
    if fractional.empty:
        return
    row = _first_row(fractional)
    raise DataFileError(
        f"{path}: row {row}: timestamp {brief(repr(fractional.iloc[0]))} has a fraction; "
        "the format wants whole milliseconds"
    )


# Millisecond timestamps of real bars lie between these (2001 and 2286); a
# file in seconds or microseconds is off by a factor of 1,000 and lands
# far outside, whichever year it covers.
MS_RANGE = (1e12, 1e13)


# A compressed file is read by what it holds, not by its name: a gzip named
# .csv was refused as "not a readable CSV (UnicodeDecodeError)".
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))


def _compression(path: Path) -> str:
    """The compression the file's first bytes say; else pandas' guess by
    its name (a .zst, when zstandard is installed)."""
    try:
        with path.open("rb") as f:
            head = f.read(6)
    except OSError:
        return "infer"  # said by read_csv, in the same words as before
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), "infer")


def _not_a_number(path: Path, frame: pd.DataFrame) -> str:
    """Which value of which column is no number: "non-numeric values" left
    a user to search a file of ISO dates for what was meant."""
    for column in COLUMNS:
        values = frame[column]
        bad = values[pd.to_numeric(values, errors="coerce").isna()]
        if bad.empty:
            continue
        row = _first_row(bad)
        wanted = "milliseconds since 1970, a whole number" if column == "timestamp" else "a number"
        return f"{path}: row {row}: {column} {brief(repr(bad.iloc[0]))} is not a number; the format wants {wanted}"
    return f"{path}: non-numeric values"


def _refuse_several_markets(path: Path, frame: pd.DataFrame) -> None:
    """A `symbol` column is not read, so two markets in one file were one
    series in which the first copy of each time won: a backtest of BTC ran
    on ETH's prices when ETH's rows came first, exit 0."""
    if "symbol" not in frame.columns:
        return
    markets = frame["symbol"].dropna().astype(str).unique()
    if len(markets) > 1:
        named = brief(", ".join(sorted(markets)[:5]))
        raise DataFileError(f"{path}: holds {len(markets)} markets in its symbol column ({named}); one file per symbol")


# Of the decompressed text: enough to hold the last row, read in steps of this.
_TAIL_BYTES = 1 << 16


def _last_bytes(path: Path, compression: str) -> bytes:
    """The end of the file's text, decompressed as read_csv decompresses it
    (pandas' own opener: gzip, bz2, xz, zip and zstd alike)."""
    tail = b""
    with pd.io.common.get_handle(path, "rb", compression=compression, is_text=False) as handles:
        while chunk := handles.handle.read(_TAIL_BYTES):
            tail = (tail + chunk)[-_TAIL_BYTES:]
    return tail


def _refuse_a_cut_last_row(path: Path, compression: str, rows: int) -> None:
    """A file whose last line has no newline was cut short: its last row
    may hold half a number (a volume of 336.57995 cut to 3 was read as 3.0,
    a close cut likewise), and nothing else in it looks wrong. Every writer
    of this format ends its lines (`bot download`, pandas, the bundled data),
    so the whole file is refused, as a truncated gzip is, rather than guess."""
    last_line = _last_bytes(path, compression).rsplit(b"\n", 1)[-1]
    if not last_line.strip():
        return
    said = brief(repr(last_line.decode(errors="replace")))
    raise DataFileError(
        f"{path}: row {rows}: {said} does not end in a newline, as a file cut short does; "
        "if that row is whole, end it with a newline"
    )


def _near_names(header: pd.Index, missing: list[str]) -> str:
    """What the header has in place of the missing names, when it differs
    only in case or spaces ('TIMESTAMP', ' open'): said, not guessed at,
    since a file named in another convention may mean other things too."""
    near = [str(name) for name in header if str(name).strip().lower() in missing]
    if not near:
        return ""
    return f" (the header has {', '.join(repr(n) for n in near)}: the names are lower case, with no spaces)"


def read_ohlcv_csv(path: Path) -> pd.DataFrame:
    problem = unreadable_file(path)
    if problem:
        raise DataFileError(f"{path}: {problem}")
    compression = _compression(path)
    try:
        frame = pd.read_csv(path, compression=compression)
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: the file is empty") from None
    except (EOFError, zlib.error):  # a gzip cut short: never replay half a file
        raise DataFileError(f"{path}: the compressed file is truncated") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing columns {', '.join(missing)}{_near_names(frame.columns, missing)}")
    if not frame.empty:  # said first: a number cut short may look like any other fault
        _refuse_a_cut_last_row(path, compression, len(frame))
    _refuse_several_markets(path, frame)
    frame = frame[COLUMNS]
    _check_whole_milliseconds(path, frame.timestamp)
    try:
        frame = frame.astype({"timestamp": "int64", **{c: "float64" for c in COLUMNS[1:]}})
    except (TypeError, ValueError):
        raise DataFileError(_not_a_number(path, frame)) from None
    except OverflowError:  # a timestamp beyond 64 bits: no bar time is that large
        raise DataFileError(f"{path}: a timestamp too large to be milliseconds since 1970") from None
    if frame.empty:
        raise DataFileError(f"{path}: a header and no bars")
    _check_milliseconds(path, frame.timestamp)
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
