"""Timeframe strings ('1m', '1h', '1d') as milliseconds, and bar alignment."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


def timeframe_ms(timeframe: str) -> int:
    """'1h' -> 3_600_000. Months are refused: their length varies."""
    match = _PATTERN.match(timeframe)
    if not match:
        raise ValueError(f"'{timeframe}' is not a timeframe like 1m, 15m, 1h, 4h, 1d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


WEEK_MS = _UNIT_MS["w"]
# Exchanges open weekly candles on Monday 00:00 UTC; the epoch was a Thursday.
MONDAY_MS = 4 * _UNIT_MS["d"]


def grid_origin_ms(timeframe_ms: int) -> int:
    """Where a timeframe's bars are counted from: the epoch, except for
    weeks, which start on Monday (1970-01-05). Counted from the epoch, every
    weekly candle an exchange serves was refused as off its boundary."""
    return MONDAY_MS if timeframe_ms % WEEK_MS == 0 else 0


def grid_offset(ts: int, timeframe_ms: int) -> int:
    """How far `ts` lies past the newest bar boundary at or before it."""
    return (ts - grid_origin_ms(timeframe_ms)) % timeframe_ms


def grid_floor(ts: int, timeframe_ms: int) -> int:
    """The open time of the bar `ts` falls in."""
    return ts - grid_offset(ts, timeframe_ms)


def bars_per_year(timeframe: str) -> float:
    return 365.0 * 86_400_000 / timeframe_ms(timeframe)


def iso_utc(ms: int) -> str:
    """1654041600000 -> '2022-06-01T00:00:00Z'; a time no calendar date can
    show (a damaged row: the year 3170843) as itself, never an exception
    that ends the report showing it."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"(no date: {ms} ms)"


def parse_iso_ms(text: str) -> int:
    """An ISO date or datetime (UTC unless it says otherwise) as epoch ms."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
