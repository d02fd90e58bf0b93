"""A warning beside annualised figures of a short backtest. CAGR, Sharpe
and Sortino turn whatever a window did into a yearly rate: a week's 3%
reads as a CAGR of several hundred percent. Below a quarter of a year the
figures are still shown, with the span they rest on."""

from __future__ import annotations

from bot.timeframes import timeframe_ms

SHORT_DAYS = 90
DAY_MS = 86_400_000


def short_window_note(bars: int | None, timeframe: str | None, trades: int | None) -> str | None:
    """The warning when `bars` traded bars of `timeframe` span under
    SHORT_DAYS days; None for a longer window or unknown figures."""
    if not bars or not timeframe:
        return None
    days = bars * timeframe_ms(timeframe) / DAY_MS
    if days >= SHORT_DAYS:
        return None
    trips = f", {trades} round trips" if trades is not None else ""
    return (
        f"A short window: {days:.1f} days ({bars:,} traded bars{trips}). CAGR, Sharpe and Sortino annualise it "
        f"into yearly rates it cannot support; read them as the window's, not a year's."
    )
