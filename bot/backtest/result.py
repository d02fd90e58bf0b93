"""What a walk-forward backtest produces: per variant (the configured
strategy, each model baseline, buy and hold, always flat) the curves, fills
and out-of-sample predictions behind its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class VariantRun:
    """One variant over the traded period (from the first prediction of the
    configured strategy to the last bar).

    equity:          Series indexed by bar open time (ms), account equity at each bar's close
    position_value:  Series, same index, signed value of all positions at the close
    fills:           DataFrame: id, ts, symbol, side, qty, price, fee, realized_pnl, order_id
    predictions:     DataFrame: ts, symbol, prob_up, outcome (0/1, NaN while unknown),
                     predicted_return (NaN unless the model's target is `return`);
                     empty for buy_and_hold and flat
    orders:          DataFrame: id, reason (empty for buy_and_hold and flat)
    """

    name: str
    equity: pd.Series
    position_value: pd.Series
    fills: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict = field(default_factory=dict)
    # id and reason of its orders: why each trade was entered and ended
    orders: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "reason"]))


NOT_MODELS = ("buy_and_hold", "flat")


@dataclass
class BacktestResult:
    strategy: VariantRun
    baselines: dict[str, VariantRun]  # buy_and_hold, flat, logistic, random_forest, gru
    prices: pd.DataFrame  # ts, symbol, open, high, low, close, volume over the traded period
    config: dict  # the decision-relevant config the run used
    data: dict  # symbol, from, to, bars
    wall_seconds: float = 0.0

    def variants(self) -> dict[str, VariantRun]:
        return {"strategy": self.strategy, **self.baselines}

    def same_trades(self) -> list[list[str]]:
        """Groups of model variants (two or more) that traded, and made the
        very same fills: whatever decided their trades was common to them
        all, so their returns cannot tell the models apart."""
        groups: dict[tuple, list[str]] = {}
        for name, run in self.variants().items():
            if name in NOT_MODELS or run.fills.empty:
                continue
            key = tuple(run.fills[["ts", "side", "qty", "price"]].itertuples(index=False, name=None))
            groups.setdefault(key, []).append(name)
        return [names for names in groups.values() if len(names) > 1]

    def to_json(self) -> dict:
        return {
            "strategy": self.strategy.metrics,
            "baselines": {name: run.metrics for name, run in self.baselines.items()},
            "config": self.config,
            "data": self.data,
            "same_trades": self.same_trades(),
            "wall_seconds": self.wall_seconds,
        }
