"""Checks a bar must pass before anything uses it. A failing bar is
rejected with a reason (logged and written to the events table), never
repaired: a guessed price is worse than a missing one."""

from __future__ import annotations

import math

from bot.domain import Bar


def bar_problem(bar: Bar, timeframe_ms: int, previous_ts: int | None) -> str | None:
    """Why the bar is unusable, or None when it is fine."""
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(v) for v in (*prices, bar.volume)):
        return "non-finite value"
    if min(prices) <= 0:
        return "non-positive price"
    if bar.high < max(bar.open, bar.close, bar.low):
        return "high below open, close or low"
    if bar.low > min(bar.open, bar.close):
        return "low above open or close"
    if bar.volume < 0:
        return "negative volume"
    if bar.ts % timeframe_ms != 0:
        return "timestamp not aligned to the timeframe"
    if previous_ts is not None and bar.ts <= previous_ts:
        return "not newer than the previous bar"
    return None
