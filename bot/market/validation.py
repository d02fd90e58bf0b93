"""Checks a bar must pass before anything uses it. A failing bar is
rejected with a reason (logged and written to the events table), never
repaired: a guessed price is worse than a missing one."""

from __future__ import annotations

import math

from bot.domain import Bar

# A price ten times the previous close, or a tenth of it, within one bar is
# taken for a broken print or a broken file, not a market move: one such
# price would fire every stop and the kill switch, or mark equity at 1e300.
# Real prints that far are rare (a thin book emptied in a flash crash), and
# rejecting one costs less than trading on a broken one. A move short of it
# may be extreme and real: it is flagged (screening) and, in live mode,
# confirmed before it can move money (price_gate). Only a bar that directly
# follows the one it is judged against is judged: after a hole (a rejected
# bar among them) the market may have gone anywhere, so a real jump costs
# one bar, not every bar after it.
MAX_MOVE_FACTOR = 10.0
IMPLAUSIBLE = f"a price beyond {MAX_MOVE_FACTOR:g} times the previous close, up or down: not a market move"


def bar_problem(
    bar: Bar, timeframe_ms: int, previous_ts: int | None, previous_close: float | None = None
) -> str | None:
    """Why the bar is unusable, or None when it is fine. `previous_close`
    is that of the bar at `previous_ts`, the one accepted before it."""
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
    follows = previous_ts is not None and bar.ts - previous_ts == timeframe_ms
    if (
        follows
        and previous_close is not None
        and not (previous_close / MAX_MOVE_FACTOR <= bar.low and bar.high <= previous_close * MAX_MOVE_FACTOR)
    ):
        return IMPLAUSIBLE
    return None
