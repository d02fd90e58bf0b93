"""Per-feature standardisation, fitted on training rows only and stored
with the model so inference scales exactly as training did."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP = 8.0  # standard deviations; one absurd bar must not saturate the LSTM


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray) -> Scaler:
        std = rows.std(axis=0)
        return cls(rows.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, rows: np.ndarray) -> np.ndarray:
        return np.clip((rows - self.mean) / self.std, -CLIP, CLIP)

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> Scaler:
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["std"], dtype=np.float64))
