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
