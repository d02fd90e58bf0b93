"""A registered model ready to score raw windows: it picks its feature
columns, scales them with the scaler fitted on its training rows, scores
them and says what the score means for a trade.

For every target and head a prediction has two readings:
- prob: P(label = 1): the horizon's return is positive, or the take-profit
  comes first. The regression head predicts the log return r; with the
  validation RMSE s as the spread of its errors, prob = Phi(r / s), the
  chance that a normal error around r leaves the return above zero.
- edge: the expected realized return of the target (a simple return, before
  costs): expm1(r) for the regression head; for the classification head
  prob * mean(realized | label 1) + (1 - prob) * mean(realized | label 0),
  the two means taken over the training windows (EdgeMap).
A strategy compares the edge with what a round trip costs, allowing for
the edge's own standard error (`edge_error`): a year of hourly bars holds
only n / h independent h-bar returns, so a random walk's chance drift over
that year looks like an edge of a third of a percent at h = 48.

A version may carry two small companions fitted at the same retrain: a
volatility forecast (sizing) and a regime model (strategies, reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.model.calibration import PlattCalibration, fit_calibrations
from bot.model.dataset import TrainingSet
from bot.model.regime import RegimeModel
from bot.model.regime_filter import SlidingRegimeFilter, fresh
from bot.model.scaler import Scaler, SymbolNames, scale_by_symbol
from bot.model.targets import Target
from bot.model.volatility import VolatilityModel
from bot.ports import Model


@dataclass(frozen=True)
class EdgeMap:
    """Mean realized return of the training windows with each label."""

    if_up: float
    if_down: float

    @classmethod
    def fit(cls, label: np.ndarray, realized: np.ndarray) -> EdgeMap:
        up, down = realized[label > 0.5], realized[label <= 0.5]
        return cls(float(up.mean()) if len(up) else 0.0, float(down.mean()) if len(down) else 0.0)

    def edge(self, prob: np.ndarray) -> np.ndarray:
        return prob * self.if_up + (1.0 - prob) * self.if_down


def edge_standard_error(realized: np.ndarray, horizon: int) -> float:
    """std(realized) / sqrt(n / h): the standard error of a mean of n
    h-bar returns that overlap, n / h of them independent."""
    if len(realized) < 2:
        return 0.0
    return float(np.std(realized) / np.sqrt(max(len(realized) / horizon, 1.0)))


def edge_level_error(data: TrainingSet) -> float:
    """The edge level's standard error for a model trained on `data`: the
    spread of its own windows' mean realized return. A model trained on
    its market's mirror image as well has no level to doubt: its edge map
    is symmetric by construction, so a chance drift of the training year
    cannot enter it."""
    if data.mirrored:
        return 0.0
    return edge_standard_error(data.r_train, data.target.lookahead_bars)


@dataclass(frozen=True)
class Scored:
    prob: np.ndarray  # (batch,) P(label = 1)
    edge: np.ndarray  # (batch,) expected realized return, before costs
    predicted_return: np.ndarray | None  # (batch,) log return: regression head only
    edge_error: np.ndarray  # (batch,) standard error of the edge (Predictor.edge_errors)


@dataclass
class Predictor:
    model: Model
    scaler: Scaler
    columns: list[int]
    seq_len: int
    version: str
    target: Target = Target()
    return_rmse: float | None = None  # regression head
    calibration: PlattCalibration | None = None
    # A mirror-trained model's calls, read without the base rate that
    # `calibration` may carry (bot/model/calibration.py); None: `calibration`.
    call_calibration: PlattCalibration | None = None
    edge_map: EdgeMap | None = None  # classification head
    # Standard error of the edge's level: what the training windows' mean
    # realized return is uncertain by, with their labels overlapping (n / h).
    edge_error: float = 0.0
    volatility: VolatilityModel | None = None
    regime: RegimeModel | None = None
    # `model.scaling: per_symbol`: each trained symbol's own scaler.
    symbol_scalers: dict[str, Scaler] = field(default_factory=dict)
    # Each scored symbol's regime filter, kept between bars (same bits as fresh).
    regime_filters: dict[str, SlidingRegimeFilter] = field(default_factory=dict, repr=False, compare=False)

    @property
    def companion_lookback(self) -> int:
        """Closes the volatility and regime companions read."""
        return max((c.lookback for c in (self.volatility, self.regime) if c is not None), default=0)

    def volatility_forecast(self, closes: np.ndarray) -> float | None:
        return self.volatility_forecasts([closes])[0]

    def volatility_forecasts(self, closes: list[np.ndarray]) -> list[float | None]:
        """The volatility forecast of each symbol's closes, all in one batch."""
        return self.volatility.forecasts(closes) if self.volatility is not None else [None] * len(closes)

    def turbulence(self, closes: np.ndarray, position: int) -> float | None:
        """The regime reading of closes whose newest bar opened at
        `position` timeframes since the epoch, from nothing."""
        return fresh(self.regime, closes, position) if self.regime is not None else None

    def turbulences(self, symbols: Sequence[str], closes: list[np.ndarray], positions: list[int]) -> list[float | None]:
        """The regime reading of each symbol's closes, its filter kept
        from the bar before: the same number as `turbulence`."""
        if self.regime is None:
            return [None] * len(closes)
        filters = self.regime_filters
        return [
            filters.setdefault(symbol, SlidingRegimeFilter()).reading(self.regime, window, position)
            for symbol, window, position in zip(symbols, closes, positions, strict=True)
        ]

    def predict(self, windows: np.ndarray, symbols: SymbolNames | None = None) -> np.ndarray:
        """(batch, >= seq_len, all features) raw -> (batch,) P(label = 1).
        `symbols` names each window's market; a per-symbol-scaled model
        needs it, a pooled one ignores it."""
        return self.score(windows, symbols).prob

    def raw_scores(self, windows: np.ndarray, symbols: SymbolNames | None = None) -> np.ndarray:
        """The model's own output: P(label) before calibration, or a log return."""
        recent = windows[:, -self.seq_len :, self.columns]
        x = scale_by_symbol(recent, symbols, self.scaler, self.symbol_scalers).astype(np.float32)
        return self.model.score(x)

    def score(self, windows: np.ndarray, symbols: SymbolNames | None = None) -> Scored:
        raw = self.raw_scores(windows, symbols)
        if self.target.regression:
            from scipy.special import ndtr  # on first use: scipy.special is a quarter second of startup

            prob = ndtr(raw / self.return_rmse)
        else:
            prob = raw
        calibrated = self.calibration.apply(prob) if self.calibration is not None else prob
        if self.target.regression:
            return Scored(calibrated, np.expm1(raw), raw, np.full(len(raw), self.edge_error))
        calls = self.call_calibration.apply(prob) if self.call_calibration is not None else calibrated
        edge_map = self.edge_map or EdgeMap(0.0, 0.0)
        return Scored(calls, edge_map.edge(calibrated), None, self.edge_errors(prob, edge_map))

    def calibrate(self, prob: np.ndarray, label: np.ndarray, form: str, gap: int, drift_free_calls: bool) -> str:
        """Fit the calibrations on the model's raw `prob` of labelled
        windows; returns the form the edge's was fitted in."""
        fitted = fit_calibrations(prob, label, form, gap, drift_free_calls)
        self.calibration, self.call_calibration = fitted.edge, fitted.calls
        return fitted.form

    def edge_errors(self, raw_prob: np.ndarray, edge_map: EdgeMap) -> np.ndarray:
        """Two doubts, independent, added in quadrature: the level's
        (`edge_error`) and the calibration's, how far the edge moves if the
        fitted trust in the model and the fitted base rate are off by their
        standard errors. On noise both are uncertain, and this keeps a
        confident-looking score or a chance run of up-bars from passing for
        an edge."""
        level = np.full(len(raw_prob), self.edge_error)
        if self.calibration is None:
            return level
        calibration = (edge_map.if_up - edge_map.if_down) * self.calibration.standard_error(raw_prob)
        return np.sqrt(level**2 + calibration**2)
