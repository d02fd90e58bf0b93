"""`bot check-lookahead`: proof that nothing computed at bar t reads bar t+1.

For many cut points t, everything the daemon derives from bars is computed
twice: from the bars up to t only, and from all the bars. Causal code gives
identical values for every bar up to t; a column that differs has looked
ahead, and the first one found is named. Checked, in the order a bar flows:
the model's features, the strategy's own indicators, the model's readings
(probability, expected edge, volatility forecast and regime, from a model of
the configured target trained on the bars before the first cut), and the
strategy's signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.config import Config
from bot.domain import Bar
from bot.features import FEATURE_NAMES
from bot.features.batch import compute_features
from bot.features.spec import feature_columns
from bot.model.dataset import SymbolSeries, build_training_set
from bot.model.factory import new_model
from bot.model.predictor import EdgeMap, Predictor, edge_level_error
from bot.model.regime import RegimeModel
from bot.model.targets import Target
from bot.model.volatility import VolatilityModel
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
        return (
            f"{self.where} '{self.column}' looks ahead: at {iso_utc(self.bar_ts)} it is {self.cut_value!r} "
            f"from the bars up to then but {self.full_value!r} once later bars exist"
        )


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
    full_close = bars.close.to_numpy(float)
    points = cut_points(len(bars), cuts, first_cut)
    columns = (
        len(FEATURE_NAMES) + (0 if full_indicators is None else full_indicators.shape[1]) + len(READING_COLUMNS) + 1
    )
    for t in points:
        position = int(bars.timestamp.iloc[t]) // cfg.timeframe_ms
        cut = bars.iloc[: t + 1]
        cut_features, cut_indicators = compute_features(cut.close, cut.volume), _indicators(strategy, cut)
        leak = (
            _first_difference("feature", cut_features, full_features, cut)
            or _first_difference("indicator", cut_indicators, full_indicators, cut)
            or _prediction_leak(predictor, cut_features, full_features, cut, full_close, t, position)
            or _signal_leak(
                strategy,
                cfg,
                bars,
                t,
                cut_indicators,
                full_indicators,
                _reading_at(predictor, full_features, full_close, t, position),
                predictor,
            )
        )
        if leak is not None:
            return LookaheadReport(len(points), columns, leak)
    return LookaheadReport(len(points), columns, None)


def _indicators(strategy: Strategy, bars: pd.DataFrame) -> pd.DataFrame | None:
    if not strategy.indicator_lookback:
        return None
    return strategy.indicators(
        bars.rename(columns={"timestamp": "ts"})[["ts", "open", "high", "low", "close", "volume"]].reset_index(
            drop=True
        )
    )


def _first_difference(
    where: str, cut: pd.DataFrame | None, full: pd.DataFrame | None, cut_bars: pd.DataFrame
) -> Leak | None:
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
    """The configured model kind and target, with its edge map, volatility
    and regime companions, trained briefly on the first half: the check
    needs a fixed model, not a good one."""
    quick = cfg.model.model_copy(update={"epochs": 1, "patience": 1})
    target = Target.of(cfg)
    half = len(bars) // 2
    defined = features.iloc[:half].dropna()
    rows = defined.index
    ohlc = bars[["open", "high", "low", "close"]].iloc[rows].to_numpy(float)
    series = SymbolSeries(bars.timestamp.iloc[rows].to_numpy(), ohlc[:, 3], defined.to_numpy(float), ohlc)
    columns = feature_columns(quick.features)
    data = build_training_set([series], quick.seq_len, quick.val_fraction, columns, target, quick.mirror)
    if data is None:
        raise ValueError("too few bars to train the check's model; give the check more data")
    model = new_model(quick, len(columns))
    model.fit(data, cfg.seed)
    predictor = Predictor(model, data.scaler, columns, quick.seq_len, "lookahead-check", target)
    if target.regression:
        error = model.score(data.x_val) - np.log1p(data.r_val)
        predictor.return_rmse = float(np.sqrt(np.mean(error**2))) or 1.0
    else:
        predictor.edge_map = EdgeMap.fit(data.y_train, data.r_train)
    predictor.edge_error = edge_level_error(data)
    if not target.regression:  # calibrated as the config says or not: its slope's doubt is read too
        predictor.calibrate(
            predictor.predict(data.x_val_raw), data.y_val, quick.calibration, target.lookahead_bars, data.mirrored
        )
    vol = VolatilityModel.fit([series.close], target.horizon_bars)
    regime = RegimeModel.fit([series.close], cfg.seed)
    predictor.volatility = vol[0] if vol else None
    predictor.regime = regime[0] if regime else None
    return predictor, half


READING_COLUMNS = ("prob_up", "expected_edge", "edge_error", "volatility_forecast", "regime")


def _reading_at(
    predictor: Predictor, features: pd.DataFrame, close: np.ndarray, t: int, position: int
) -> dict[str, float]:
    """The model's reading of the window ending at bar t (whose open time
    is `position` timeframes), scored alone as the daemon does with one
    symbol (batch size changes float rounding); NaN in warm-up."""
    window = features.to_numpy(float)[max(t - predictor.seq_len + 1, 0) : t + 1]
    if len(window) < predictor.seq_len or np.isnan(window).any():
        return dict.fromkeys(READING_COLUMNS, np.nan)
    scored = predictor.score(window[None])
    closes = close[max(t + 1 - predictor.companion_lookback, 0) : t + 1]
    return {
        "prob_up": float(scored.prob[0]),
        "expected_edge": float(scored.edge[0]),
        "edge_error": float(scored.edge_error[0]),
        "volatility_forecast": _or_nan(predictor.volatility_forecast(closes)),
        "regime": _or_nan(predictor.turbulence(closes, position)),
    }


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def _prediction_leak(
    predictor: Predictor,
    cut_features: pd.DataFrame,
    full_features: pd.DataFrame,
    cut: pd.DataFrame,
    full_close: np.ndarray,
    t: int,
    position: int,
) -> Leak | None:
    """The newest bar's reading from the cut data against the full data's."""
    a = _reading_at(predictor, cut_features, cut.close.to_numpy(float), t, position)
    b = _reading_at(predictor, full_features, full_close, t, position)
    for column in READING_COLUMNS:
        x, y = a[column], b[column]
        if not ((np.isnan(x) and np.isnan(y)) or np.isclose(x, y, rtol=TOLERANCE, atol=TOLERANCE)):
            return Leak(column, "prediction", int(cut.timestamp.iloc[t]), _plain(x), _plain(y))
    return None


def _signal_leak(
    strategy: Strategy,
    cfg: Config,
    bars: pd.DataFrame,
    t: int,
    cut_ind: pd.DataFrame | None,
    full_ind: pd.DataFrame | None,
    reading: dict[str, float],
    predictor: Predictor,
) -> Leak | None:
    row = bars.iloc[t]
    bar = Bar(
        cfg.symbols[0],
        int(row.timestamp),
        float(row.open),
        float(row.high),
        float(row.low),
        float(row.close),
        float(row.volume),
    )
    known = {k: (None if np.isnan(v) else v) for k, v in reading.items()}
    cost = 2 * (cfg.paper.fee_bps + cfg.paper.slippage_bps) / 10_000

    def signal(indicators: pd.DataFrame | None):
        values = None if indicators is None else indicators.iloc[t].to_dict()
        return strategy.decide(
            StrategyContext(
                bar.symbol,
                bar,
                known["prob_up"],
                0.0,
                None,
                values,
                expected_edge=known["expected_edge"],
                edge_error=known["edge_error"] or 0.0,
                round_trip_cost=cost,
                volatility_forecast=known["volatility_forecast"],
                regime=known["regime"],
                horizon_bars=cfg.model.horizon_bars,
            )
        )

    cut_signal, full_signal = signal(cut_ind), signal(full_ind)
    if cut_signal.target == full_signal.target:
        return None
    return Leak("target", "signal", bar.ts, cut_signal.target, full_signal.target)


def _plain(value):
    value = float(value)
    return None if np.isnan(value) else value
