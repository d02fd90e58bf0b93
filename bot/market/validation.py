"""Checks a bar must pass before anything uses it. A failing bar is
rejected with a reason (logged and written to the events table), never
repaired: a guessed price is worse than a missing one."""

from __future__ import annotations

import math

from bot.domain import Bar
from bot.timeframes import grid_offset

# A price ten times the previous close, or a tenth of it, within one bar is
# taken for a broken print or a broken file, not a market move: one such
# price would fire every stop and the kill switch, or mark equity at 1e300.
# Real prints that far are rare (a thin book emptied in a flash crash), and
# rejecting one costs less than trading on a broken one. A move short of it
# may be extreme and real: it is flagged (screening) and, in live mode,
# confirmed before it can move money (price_gate).
#
# A bar is judged against the newest accepted close while less than a day
# (or one bar of a longer timeframe) lies between them. Judging only the bar
# right after an accepted one let a feed at the wrong scale through: its
# first bar was rejected, and the hole that left made its second "after a
# hole", judged by nothing, and traded (a test run bought at 100 times the
# price and lost half the account). A market that really jumps tenfold
# (a redenomination) now waits a day, every bar of it rejected and reported,
# and the stall reported too, before its new level is taken.
MAX_MOVE_FACTOR = 10.0
JUDGED_WITHIN_MS = 86_400_000
IMPLAUSIBLE = f"a price beyond {MAX_MOVE_FACTOR:g} times the previous close, up or down: not a market move"
# No market is priced near these: a price past them is a broken number, and
# its squares overflow the rolling features (1e308 wedged the daemon's
# feature update on every later bar). A first bar has no close to be judged
# against, so only these bounds stand between it and the ledger.
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
UNPRICED = f"a price above {MAX_PRICE:g}: no market is priced there"


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
    if max(prices) > MAX_PRICE:
        return UNPRICED
    if bar.volume > MAX_VOLUME:
        return f"a volume above {MAX_VOLUME:g}"
    if bar.high < max(bar.open, bar.close, bar.low):
        return "high below open, close or low"
    if bar.low > min(bar.open, bar.close):
        return "low above open or close"
    if bar.volume < 0:
        return "negative volume"
    if grid_offset(bar.ts, timeframe_ms) != 0:
        return "timestamp not aligned to the timeframe"
    if previous_ts is not None and bar.ts <= previous_ts:
        return "not newer than the previous bar"
    judged = previous_ts is not None and bar.ts - previous_ts <= max(timeframe_ms, JUDGED_WITHIN_MS)
    if judged and previous_close is not None and not within_tenfold(bar, previous_close):
        return IMPLAUSIBLE
    return None


def within_tenfold(bar: Bar, close: float) -> bool:
    """Whether the bar's low and high lie within MAX_MOVE_FACTOR of `close`:
    a market move, not a broken print or a new price level."""
    return close / MAX_MOVE_FACTOR <= bar.low and bar.high <= close * MAX_MOVE_FACTOR
