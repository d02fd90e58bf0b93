"""A registered model ready to score raw windows: it picks its feature
columns, scales them with the scaler fitted on its training rows, scores
them and returns P(next close > this close).

For the return target the model predicts the next log return r; with the
validation RMSE s as the spread of its errors, P(up) = Phi(r / s), the
probability that a normal error around r leaves the return above zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import ndtr

from bot.model.calibration import PlattCalibration
from bot.model.scaler import Scaler


class Model(Protocol):
    def score(self, x: np.ndarray) -> np.ndarray:
        """(batch, seq_len, features) scaled float32 -> P(up) or a log return."""


@dataclass
class Predictor:
    model: Model
    scaler: Scaler
    columns: list[int]
    seq_len: int
    version: str
    target: str = "direction"
    return_rmse: float | None = None
    calibration: PlattCalibration | None = None

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(batch, >= seq_len, all features) raw -> (batch,) P(up)."""
        return self.predict_detailed(windows)[0]

    def predict_detailed(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(up), and the predicted log return for the return target."""
        x = self.scaler.transform(windows[:, -self.seq_len:, self.columns]).astype(np.float32)
        score = self.model.score(x)
        prob = ndtr(score / self.return_rmse) if self.target == "return" else score
        if self.calibration is not None:
            prob = self.calibration.apply(prob)
        return prob, (score if self.target == "return" else None)
