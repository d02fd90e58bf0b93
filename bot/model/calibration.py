"""Platt scaling: a logistic fit of the outcome on the logit of the model's
probability, on the validation slice. It keeps the ranking (AUC) and fixes
the levels, so thresholds such as 0.6 mean what they say."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class PlattCalibration:
    slope: float
    intercept: float

    @classmethod
    def fit(cls, prob: np.ndarray, label: np.ndarray) -> "PlattCalibration":
        fit = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(prob).reshape(-1, 1), label.astype(int))
        return cls(float(fit.coef_[0, 0]), float(fit.intercept_[0]))

    def apply(self, prob: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(prob) + self.intercept)))
