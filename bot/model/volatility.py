"""A small model of the volatility to come, for volatility-targeted sizing.

The forecast is of realised per-bar volatility over the next H bars,
sqrt(mean(r^2)) of the log returns r of bars i+1..i+H, with
H = max(horizon_bars, MIN_HORIZON): a single bar's |r| is too noisy to learn
and is not what sizing a position held for a while needs. Its inputs are the
realised volatilities over the last 6, 24 and 168 bars, and the model is
linear in logs (volatility clusters, and a mixture of short and long
memories is the classic way to forecast it):

    log vol_next = a + b6 log vol_6 + b24 log vol_24 + b168 log vol_168

fitted by least squares on the older part of a retrain's history, judged
on the newest part against the naive forecast "the next H bars look like the
last 24", and stored as plain numbers with the model version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

LOOKBACKS = (6, 24, 168)
MIN_HORIZON = 24
FLOOR = 1e-6  # a stretch of unchanged closes has zero volatility; logs need a floor


def _rolling_vol(returns: np.ndarray, k: int) -> np.ndarray:
    """vol[j] over returns[j-k+1..j]; NaN for the first k-1."""
    out = np.full(len(returns), np.nan)
    if len(returns) >= k:
        out[k - 1 :] = np.sqrt(sliding_window_view(returns**2, k).mean(axis=1))
    return out


def _design(log_close: np.ndarray) -> np.ndarray:
    """(T, 1 + len(LOOKBACKS)) rows [1, log vol_k ...] per bar; NaN where
    a lookback reaches before the first close."""
    returns = np.diff(log_close, prepend=np.nan)
    returns[0] = np.nan
    columns = [np.ones(len(log_close))]
    for k in LOOKBACKS:
        vol = np.full(len(log_close), np.nan)
        vol[1:] = _rolling_vol(returns[1:], k)
        columns.append(np.log(np.maximum(vol, FLOOR)))
    return np.column_stack(columns)


def _future_log_vol(log_close: np.ndarray, horizon: int) -> np.ndarray:
    """log realised vol over bars i+1..i+H; NaN where that is past the data."""
    returns = np.diff(log_close)
    out = np.full(len(log_close), np.nan)
    vol = _rolling_vol(returns, horizon)  # vol[j] covers returns j-H+1..j, i.e. bars j-H+2..j+1
    out[: len(log_close) - horizon] = vol[horizon - 1 :]
    return np.log(np.maximum(out, FLOOR))


def _r2(predicted: np.ndarray, actual: np.ndarray) -> float | None:
    variance = float(np.var(actual))
    if len(actual) < 2 or variance == 0:
        return None
    return 1.0 - float(np.mean((actual - predicted) ** 2)) / variance


@dataclass(frozen=True)
class VolatilityModel:
    coef: tuple[float, ...]
    residual_std: float  # of log vol, for the mean of a log-normal forecast
    horizon: int

    @property
    def lookback(self) -> int:
        """Closes a forecast needs."""
        return max(LOOKBACKS) + 1

    @classmethod
    def fit(
        cls, closes: list[np.ndarray], horizon_bars: int, val_fraction: float = 0.2
    ) -> tuple[VolatilityModel, dict] | None:
        """Fit on each series' older rows, judge on its newest; None with
        too little history."""
        horizon = max(horizon_bars, MIN_HORIZON)
        train_x, train_y, val_x, val_y, val_naive = [], [], [], [], []
        for close in closes:
            log_close = np.log(close)
            x, y = _design(log_close), _future_log_vol(log_close, horizon)
            usable = np.flatnonzero(~np.isnan(x).any(axis=1) & ~np.isnan(y))
            if len(usable) < 50:
                continue
            cut = usable[0] + int((usable[-1] - usable[0]) * (1 - val_fraction))
            # The training rows' targets must end before the first validation row.
            train, val = usable[usable <= cut - horizon], usable[usable > cut]
            train_x.append(x[train])
            train_y.append(y[train])
            val_x.append(x[val])
            val_y.append(y[val])
            val_naive.append(x[val, 1 + LOOKBACKS.index(24)])
        if not train_x or sum(map(len, train_y)) < 30:
            return None
        x, y = np.concatenate(train_x), np.concatenate(train_y)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        residual_std = float(np.std(y - x @ coef))
        model = cls(tuple(float(c) for c in coef), residual_std, horizon)
        vx, vy = np.concatenate(val_x), np.concatenate(val_y)
        metrics = {
            "vol_horizon": horizon,
            "vol_val_r2": _r2(vx @ coef, vy),
            "vol_val_r2_naive": _r2(np.concatenate(val_naive), vy),
            "vol_n_train": int(len(y)),
        }
        return model, metrics

    def forecast(self, closes: np.ndarray) -> float | None:
        """Per-bar volatility expected over the next H bars, from the newest
        closes (oldest first); None without `lookback` of them."""
        return self.forecasts([closes])[0]

    def forecasts(self, windows: list[np.ndarray]) -> list[float | None]:
        """`forecast` of each series of closes: the returns of all of them in
        a few numpy calls, each finished exactly as it would be alone."""
        out: list[float | None] = [None] * len(windows)
        full = [i for i, w in enumerate(windows) if len(w) >= self.lookback]
        if not full:
            return out
        closes = np.stack([windows[i][-self.lookback :] for i in full])
        squared = np.diff(np.log(closes), axis=1) ** 2
        newest_first_sums = np.cumsum(squared[:, ::-1], axis=1)
        lookbacks = np.asarray(LOOKBACKS)
        log_vols = np.log(np.maximum(np.sqrt(newest_first_sums[:, lookbacks - 1] / lookbacks), FLOOR))
        weights = np.asarray(self.coef[1:])
        for i, row in zip(full, log_vols, strict=True):
            log_vol = self.coef[0] + float(np.dot(weights, row))  # one row at a time: the same sum as alone
            out[i] = float(np.exp(log_vol + 0.5 * self.residual_std**2))
        return out

    def to_json(self) -> dict:
        return {"coef": list(self.coef), "residual_std": self.residual_std, "horizon": self.horizon}

    @classmethod
    def from_json(cls, data: dict) -> VolatilityModel:
        coef = tuple(float(c) for c in data["coef"])
        if len(coef) != 1 + len(LOOKBACKS) or not all(np.isfinite(coef)):
            raise ValueError("volatility model file has the wrong number of finite coefficients")
        return cls(coef, float(data["residual_std"]), int(data["horizon"]))
