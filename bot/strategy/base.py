"""What a user strategy sees and must return.

A strategy lives in strategies/<name>.py, subclasses Strategy, declares its
parameters as a pydantic model (so a bad value in config.yaml is refused at
start with the field named) and turns one closed bar plus the model's
probability into a Signal. It must not do I/O or keep hidden clocks: the
same inputs give the same signal, in the daemon, the replay and the backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from bot.domain import Bar, Signal


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    symbol: str
    bar: Bar
    prob_up: float | None  # None before the first model or during warm-up
    position_qty: float
    features: Mapping[str, float] | None


class Strategy:
    Params: type[BaseModel] = NoParams

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def decide(self, ctx: StrategyContext) -> Signal:
        raise NotImplementedError
