"""What a trade costs, as configured for the paper venue: the figure a
strategy's expected edge must beat, and the slippage the paper broker
charges. One formula for both, so the estimate is the charge."""

from __future__ import annotations

from bot.config import PaperConfig

# No fill slips by more than half its price. The volatility term has no bound
# of its own: a factor of 100 on daily bars (5% a bar) made a sell slip past
# the whole price, and it filled at -66,628 with a negative fee, leaving a
# spot account at -9,200.
MAX_SLIPPAGE_BPS = 5_000.0


def slippage_bps(paper: PaperConfig, volatility: float | None) -> float:
    """A market order's slippage when the per-bar volatility is `volatility`."""
    asked = paper.slippage_bps + paper.slippage_volatility_factor * (volatility or 0.0) * 10_000
    return min(asked, MAX_SLIPPAGE_BPS)


def round_trip_cost(paper: PaperConfig, volatility: float | None) -> float:
    """An entry and an exit as a return: taker fee and slippage, twice."""
    return 2 * (paper.fee_bps + slippage_bps(paper, volatility)) / 10_000
