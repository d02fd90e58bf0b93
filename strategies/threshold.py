"""The seed example: go long when the model is confident the next bar
closes up, go flat when it leans down, and otherwise keep what is held.

The gap between the two thresholds is hysteresis: without it a probability
hovering around one number would flip the position every bar and pay fees
each time.
"""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain import Signal
from bot.strategy import Strategy, StrategyContext


class ThresholdParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enter_above: float = Field(0.6, gt=0, lt=1)
    exit_below: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> "ThresholdParams":
        if self.exit_below > self.enter_above:
            raise ValueError("exit_below must not exceed enter_above")
        return self


class Threshold(Strategy):
    Params = ThresholdParams

    def decide(self, ctx: StrategyContext) -> Signal:
        p = ctx.prob_up
        if p is None:
            return Signal(None, "no prediction")
        if p > self.params.enter_above:
            return Signal(1.0, "long")
        if p < self.params.exit_below:
            return Signal(0.0, "flat")
        return Signal(None, "hold")
