"""A warning beside annualised figures of a short backtest. CAGR, Sharpe
and Sortino turn whatever a window did into a yearly rate: a week's 3%
reads as a CAGR of several hundred percent. Below a quarter of a year the
figures are still shown, with the span they rest on."""

from __future__ import annotations

from bot.timeframes import timeframe_ms

SHORT_DAYS = 90
DAY_MS = 86_400_000


def short_window_note(
    bars: int | None, timeframe: str | None, trades: int | None, span_ms: int | None = None
) -> str | None:
    """The warning when the traded window spans under SHORT_DAYS days: its
    calendar span `span_ms` (first to last traded bar) where known, else
    `bars` traded bars of `timeframe`. None for a longer window or unknown
    figures. Bars the data lacks within the span are said (a hole of 41
    days was read as a window 41 days shorter, without a word)."""
    if not bars or not timeframe:
        return None
    tf_ms = timeframe_ms(timeframe)
    spanned = bars * tf_ms if span_ms is None else span_ms + tf_ms
    days = spanned / DAY_MS
    if days >= SHORT_DAYS:
        return None
    trips = f", {trades} round trips" if trades is not None else ""
    missing = spanned // tf_ms - bars
    holes = f", {missing:,} bars missing from the data" if missing > 0 else ""
    return (
        f"A short window: {days:.1f} days ({bars:,} traded bars{holes}{trips}). CAGR, Sharpe and Sortino annualise "
        f"it into yearly rates it cannot support; read them as the window's, not a year's."
    )
