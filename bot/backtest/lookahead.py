"""`bot check-lookahead`: proof that nothing computed at bar t reads bar t+1.

For many cut points t, everything the daemon derives from bars is computed
twice: from the bars up to t only, and from all the bars. Causal code gives
identical values for every bar up to t; a column that differs has looked
ahead, and the first one found is named. Checked, in the order a bar flows:
the model's features, the strategy's own indicators, the model's
predictions (a model trained on the bars before the first cut), and the
strategy's signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.config import Config
from bot.domain import Bar
from bot.features import FEATURE_NAMES, compute_features
from bot.model.dataset import SymbolSeries, build_training_set
from bot.model.factory import new_model
from bot.model.predictor import Predictor
from bot.strategy import Strategy, StrategyContext
from bot.timeframes import iso_utc

TOLERANCE = 1e-12  # the same float operations in the same order: equal, up to this


@dataclass(frozen=True)
class Leak:
    column: str
    where: str  # feature, indicator, prediction or signal
    bar_ts: int
    cut_value: object
    full_value: object

    def describe(self) -> str:
        return (f"{self.where} '{self.column}' looks ahead: at {iso_utc(self.bar_ts)} it is {self.cut_value!r} "
                f"from the bars up to then but {self.full_value!r} once later bars exist")


@dataclass(frozen=True)
class LookaheadReport:
    cuts: int
    columns: int
    leak: Leak | None


def cut_points(n: int, count: int, first: int) -> list[int]:
    """Evenly spread bar indices from `first` to the second-to-last bar."""
    return sorted({int(i) for i in np.linspace(first, n - 2, num=min(count, max(n - 1 - first, 1)))})


def check_lookahead(cfg: Config, bars: pd.DataFrame, strategy: Strategy, cuts: int = 40) -> LookaheadReport:
    bars = bars.reset_index(drop=True)
    full_features = compute_features(bars.close, bars.volume)
    full_indicators = _indicators(strategy, bars)
    predictor, first_cut = _quick_predictor(cfg, bars, full_features)
    points = cut_points(len(bars), cuts, first_cut)
    columns = len(FEATURE_NAMES) + (0 if full_indicators is None else full_indicators.shape[1]) + 2
    for t in points:
        cut = bars.iloc[: t + 1]
        cut_features, cut_indicators = compute_features(cut.close, cut.volume), _indicators(strategy, cut)
        leak = (_first_difference("feature", cut_features, full_features, cut)
                or _first_difference("indicator", cut_indicators, full_indicators, cut)
                or _prediction_leak(predictor, cut_features, full_features, cut, t)
                or _signal_leak(strategy, cfg, bars, t, cut_indicators, full_indicators,
                                _probability_at(predictor, full_features, t)))
        if leak is not None:
            return LookaheadReport(len(points), columns, leak)
    return LookaheadReport(len(points), columns, None)


def _indicators(strategy: Strategy, bars: pd.DataFrame) -> pd.DataFrame | None:
    if not strategy.indicator_lookback:
        return None
    return strategy.indicators(bars.rename(columns={"timestamp": "ts"})[["ts", "open", "high", "low", "close",
                                                                          "volume"]].reset_index(drop=True))


def _first_difference(where: str, cut: pd.DataFrame | None, full: pd.DataFrame | None,
                      cut_bars: pd.DataFrame) -> Leak | None:
    if cut is None or full is None:
        return None
    head = full.iloc[: len(cut)]
    for column in full.columns:
        a, b = cut[column].to_numpy(float), head[column].to_numpy(float)
        same = np.isclose(a, b, rtol=TOLERANCE, atol=TOLERANCE) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            row = int(np.argmin(same))
            return Leak(str(column), where, int(cut_bars.timestamp.iloc[row]), _plain(a[row]), _plain(b[row]))
    return None


def _quick_predictor(cfg: Config, bars: pd.DataFrame, features: pd.DataFrame) -> tuple[Predictor, int]:
    """The configured model kind, trained briefly on the first half: the
    check needs a fixed model, not a good one."""
    quick = cfg.model.model_copy(update={"epochs": 1, "patience": 1})
    half = len(bars) // 2
    defined = features.iloc[:half].dropna()
    rows = defined.index
    series = SymbolSeries(bars.timestamp.iloc[rows].to_numpy(), bars.close.iloc[rows].to_numpy(float),
                          defined.to_numpy(float))
    columns = [FEATURE_NAMES.index(n) for n in quick.features]
    data = build_training_set([series], quick.seq_len, quick.val_fraction, columns)
    if data is None:
        raise ValueError("too few bars to train the check's model; give the check more data")
    model = new_model(quick, len(columns))
    model.fit(data, cfg.seed)
    predictor = Predictor(model, data.scaler, columns, quick.seq_len, "lookahead-check", quick.target)
    if quick.target == "return":
        predictor.return_rmse = float(np.sqrt(np.mean((model.score(data.x_val) - data.r_val) ** 2))) or 1.0
    return predictor, half


def _probability_at(predictor: Predictor, features: pd.DataFrame, t: int) -> float:
    """P(up) for the window ending at bar t, scored alone as the daemon does
    with one symbol (batch size changes float rounding); NaN in warm-up."""
    window = features.to_numpy(float)[max(t - predictor.seq_len + 1, 0): t + 1]
    if len(window) < predictor.seq_len or np.isnan(window).any():
        return np.nan
    return float(predictor.predict(window[None])[0])


def _prediction_leak(predictor: Predictor, cut_features: pd.DataFrame, full_features: pd.DataFrame,
                     cut: pd.DataFrame, t: int) -> Leak | None:
    """The newest bar's prediction from the cut data against the full data's."""
    a, b = _probability_at(predictor, cut_features, t), _probability_at(predictor, full_features, t)
    if (np.isnan(a) and np.isnan(b)) or np.isclose(a, b, rtol=TOLERANCE, atol=TOLERANCE):
        return None
    return Leak("prob_up", "prediction", int(cut.timestamp.iloc[t]), _plain(a), _plain(b))


def _signal_leak(strategy: Strategy, cfg: Config, bars: pd.DataFrame, t: int, cut_ind: pd.DataFrame | None,
                 full_ind: pd.DataFrame | None, prob_at_t: float) -> Leak | None:
    row = bars.iloc[t]
    bar = Bar(cfg.symbols[0], int(row.timestamp), float(row.open), float(row.high), float(row.low),
              float(row.close), float(row.volume))
    prob = None if np.isnan(prob_at_t) else prob_at_t

    def signal(indicators: pd.DataFrame | None):
        values = None if indicators is None else indicators.iloc[t].to_dict()
        return strategy.decide(StrategyContext(bar.symbol, bar, prob, 0.0, None, values))

    cut_signal, full_signal = signal(cut_ind), signal(full_ind)
    if cut_signal.target == full_signal.target:
        return None
    return Leak("target", "signal", bar.ts, cut_signal.target, full_signal.target)


def _plain(value):
    value = float(value)
    return None if np.isnan(value) else value
