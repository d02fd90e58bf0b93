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
A strategy compares the edge with what a round trip costs.

A version may carry two small companions fitted at the same retrain: a
volatility forecast (sizing) and a regime model (strategies, reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import ndtr

from bot.model.calibration import PlattCalibration
from bot.model.regime import RegimeModel
from bot.model.scaler import Scaler
from bot.model.targets import Target
from bot.model.volatility import VolatilityModel


class Model(Protocol):
    def score(self, x: np.ndarray) -> np.ndarray:
        """(batch, seq_len, features) scaled float32 -> P(label) or a log return."""


@dataclass(frozen=True)
class EdgeMap:
    """Mean realized return of the training windows with each label."""

    if_up: float
    if_down: float

    @classmethod
    def fit(cls, label: np.ndarray, realized: np.ndarray) -> "EdgeMap":
        up, down = realized[label > 0.5], realized[label <= 0.5]
        return cls(float(up.mean()) if len(up) else 0.0, float(down.mean()) if len(down) else 0.0)

    def edge(self, prob: np.ndarray) -> np.ndarray:
        return prob * self.if_up + (1.0 - prob) * self.if_down


@dataclass(frozen=True)
class Scored:
    prob: np.ndarray  # (batch,) P(label = 1)
    edge: np.ndarray  # (batch,) expected realized return, before costs
    predicted_return: np.ndarray | None  # (batch,) log return: regression head only


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
    edge_map: EdgeMap | None = None  # classification head
    volatility: VolatilityModel | None = None
    regime: RegimeModel | None = None

    @property
    def companion_lookback(self) -> int:
        """Closes the volatility and regime companions read."""
        return max((c.lookback for c in (self.volatility, self.regime) if c is not None), default=0)

    def volatility_forecast(self, closes: np.ndarray) -> float | None:
        return self.volatility.forecast(closes) if self.volatility is not None else None

    def turbulence(self, closes: np.ndarray) -> float | None:
        return self.regime.turbulent_probability(closes) if self.regime is not None else None

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(batch, >= seq_len, all features) raw -> (batch,) P(label = 1)."""
        return self.score(windows).prob

    def score(self, windows: np.ndarray) -> Scored:
        x = self.scaler.transform(windows[:, -self.seq_len:, self.columns]).astype(np.float32)
        raw = self.model.score(x)
        if self.target.regression:
            prob = ndtr(raw / self.return_rmse)
        else:
            prob = raw
        if self.calibration is not None:
            prob = self.calibration.apply(prob)
        if self.target.regression:
            return Scored(prob, np.expm1(raw), raw)
        edge_map = self.edge_map or EdgeMap(0.0, 0.0)
        return Scored(prob, edge_map.edge(prob), None)
