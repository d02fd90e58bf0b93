"""The bundled OHLCV CSV format: timestamp (ms, bar open), open, high, low,
close, volume; plain or gzip."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


class DataFileError(Exception):
    """A data file that cannot be read as OHLCV; the message says why."""


def read_ohlcv_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing columns {', '.join(missing)}")
    frame = frame[COLUMNS]
    try:
        frame = frame.astype({"timestamp": "int64", **{c: "float64" for c in COLUMNS[1:]}})
    except (TypeError, ValueError):
        raise DataFileError(f"{path}: non-numeric values") from None
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
