"""Per-feature standardisation, fitted on training rows only and stored
with the model so inference scales exactly as training did: one scaler
over every symbol's rows, and with `model.scaling: per_symbol` one more per
symbol, fitted on that symbol's rows alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CLIP = 8.0  # standard deviations; one absurd bar must not saturate the LSTM

# Each window's symbol: a list from the engine, an object array from a training set.
SymbolNames = Sequence[str] | np.ndarray


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
    def from_json(cls, data: dict, n_features: int | None = None) -> Scaler:
        """ValueError for a saved scaler that cannot scale `n_features`
        columns: the wrong length, a non-finite value or a spread that is
        not positive would otherwise fail, or scale to nonsense, at the
        first bar the model scores."""
        scaler = cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["std"], dtype=np.float64))
        n = len(scaler.mean) if n_features is None else n_features
        if scaler.mean.shape != (n,) or scaler.std.shape != (n,):
            raise ValueError(f"a scaler for {n} features has {scaler.mean.shape} and {scaler.std.shape} values")
        if not (np.all(np.isfinite(scaler.mean)) and np.all(np.isfinite(scaler.std)) and np.all(scaler.std > 0)):
            raise ValueError("a scaler holds a non-finite mean or a spread that is not positive")
        return scaler


def scale_by_symbol(
    windows: np.ndarray, symbols: SymbolNames | None, pooled: Scaler, by_symbol: Mapping[str, Scaler]
) -> np.ndarray:
    """(batch, seq_len, features) raw -> scaled: each window through its
    own symbol's scaler (`model.scaling: per_symbol`), or the pooled one
    for a symbol the model never trained on and when no symbols are given.
    One broadcast for the whole batch, so a step over many symbols stays a
    single array operation."""
    if symbols is None or not by_symbol:
        return pooled.transform(windows)
    chosen = [by_symbol.get(s, pooled) for s in symbols]
    mean = np.stack([c.mean for c in chosen])[:, None, :]
    std = np.stack([c.std for c in chosen])[:, None, :]
    return np.clip((windows - mean) / std, -CLIP, CLIP)
