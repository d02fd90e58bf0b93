"""What a user strategy sees and must return.

A strategy lives in strategies/<name>.py, subclasses Strategy, declares its
parameters as a pydantic model (so a bad value in config.yaml is refused at
start with the field named) and turns one closed bar plus the model's
reading (probability, expected edge, volatility forecast, regime) and the
cost of a round trip into a Signal, whose reason is recorded with the
prediction. It must not do I/O or keep hidden clocks: the
same inputs give the same signal, in the daemon, the replay and the backtest.

A strategy may also compute its own indicators: set `indicator_lookback` to
the bars they need and implement `indicators(bars)`, which gets the newest
`indicator_lookback` closed bars (oldest first) and returns a frame with one
row per bar; the newest row reaches `decide` as `ctx.indicators`. Nothing
there may look at a later row: `bot check-lookahead` finds a column that does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from bot.domain import Bar, Signal


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    symbol: str
    bar: Bar
    prob_up: float | None  # P(label 1) of the model's target; None before the first model or during warm-up
    position_qty: float
    features: Mapping[str, float] | None
    indicators: Mapping[str, float] | None = None  # the strategy's own, newest bar
    # The model's expected return of its target (a long over its horizon, or
    # the triple-barrier trade), before costs; None without a prediction.
    expected_edge: float | None = None
    edge_error: float = 0.0  # the standard error of the edge's level (bot/model/predictor.py)
    # What one round trip costs as a return: fees plus slippage, both sides.
    round_trip_cost: float = 0.0
    volatility_forecast: float | None = None  # per bar, over the model's horizon
    regime: float | None = None  # P(the turbulent regime), from the champion's regime model
    bars_held: int = 0  # bar closes since the position was entered; 0 when flat
    horizon_bars: int = 1  # the model's target horizon


class Strategy:
    Params: type[BaseModel] = NoParams
    indicator_lookback: int = 0  # bars indicators() needs; 0: it has none

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def indicators(self, bars: pd.DataFrame) -> pd.DataFrame | None:
        """Columns computed from bars (columns ts, open, high, low, close,
        volume), one row per bar, using only that row and earlier ones."""
        return None

    def decide(self, ctx: StrategyContext) -> Signal:
        raise NotImplementedError

    def contradicts(self, config: Any) -> str | None:
        """Why these parameters cannot work with the rest of `config` (the
        bot's Config), as `strategy.params.<name>: ...`; None when they can.
        Checked at load, so that a run refuses them at start (exit 2)."""
        return None
