"""A price as a person reads it: two decimals from one unit of the quote
currency up, four significant digits below. A coin at 0.000005753 read
0.00 in every table, status line and event, its stop included."""

from __future__ import annotations

import math

SIGNIFICANT_DIGITS = 4


def price_text(value: float, grouped: bool = True) -> str:
    """`grouped`: thousands separated by commas (1,234.50)."""
    magnitude = abs(value)
    if not math.isfinite(value) or magnitude >= 1 or magnitude == 0:
        return f"{value:,.2f}" if grouped else f"{value:.2f}"
    decimals = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(magnitude))
    return f"{value:.{decimals}f}"
