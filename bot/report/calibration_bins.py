"""Reliability of predicted probabilities, binned: the backtest report and
the run's dashboard both plot it against the diagonal."""

from __future__ import annotations

import numpy as np


def calibration_bins(prob, outcome, bins: int = 10, min_count: int = 20) -> list[tuple[float, float, int]]:
    """Reliability of predicted probabilities.

    `prob` is split into `bins` equal-width bins over [0, 1] (each bin holds
    [k/bins, (k+1)/bins), the last one also holds 1.0). Pairs whose prob or
    outcome is missing, or whose prob lies outside [0, 1], are ignored. For
    each bin with at least `min_count` pairs, in ascending order, returns
    (mean predicted probability, observed frequency of outcome == 1, count).
    """
    p = np.asarray(prob, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"prob and outcome differ in shape: {p.shape} vs {y.shape}")
    keep = np.isfinite(p) & np.isfinite(y) & (p >= 0.0) & (p <= 1.0)
    p, y = p[keep], y[keep]
    index = np.minimum(np.floor(p * bins).astype(int), bins - 1)
    result = []
    for k in range(bins):
        in_bin = index == k
        count = int(in_bin.sum())
        if count >= min_count and count > 0:
            result.append((float(p[in_bin].mean()), float((y[in_bin] == 1).mean()), count))
    return result
