"""How the simulated venue prices and times the orders it is given: the
paper broker's fill realism, kept out of the risk manager, which only
decides what to trade.

- Latency: a market order decided at a bar's close fills no earlier than
  the open of the bar `latency_bars` after the next one.
- Slippage: a market order moves against us by the configured base plus
  `slippage_volatility_factor` times the market's per-bar volatility when
  it was decided; a stop by the base; a take-profit limit not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import PaperConfig
from bot.domain import OrderKind
from bot.risk.costs import slippage_bps


@dataclass(frozen=True)
class SlippageModel:
    paper: PaperConfig

    def bps(self, kind: OrderKind, volatility: float | None) -> float:
        if kind is OrderKind.MARKET:
            return slippage_bps(self.paper, volatility)
        return self.paper.slippage_bps if kind is OrderKind.STOP else 0.0


@dataclass(frozen=True)
class LatencyModel:
    latency_bars: int
    timeframe_ms: int

    def not_before(self, decided_bar_ts: int) -> int:
        """The open time of the first bar a market order decided at the close
        of the bar opened at `decided_bar_ts` may fill at."""
        return decided_bar_ts + (1 + self.latency_bars) * self.timeframe_ms
