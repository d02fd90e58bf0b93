"""Streaming feature computation: one closed bar in, one feature vector out.

Every piece of state is either a scalar recurrence (EMAs) or a fixed-size deque,
so the cost per bar does not grow with the number of bars seen. Plain floats and
`math` are used on purpose: numpy call overhead dominates for windows this small.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TypeGuard

from bot.features.spec import (
    EMA_SLOPE_SPAN,
    MACD_FAST_SPAN,
    MACD_SIGNAL_SPAN,
    MACD_SLOW_SPAN,
    RETURN_LAGS,
    RSI_PERIOD,
    SMA_WINDOW,
    VOLATILITY_WINDOW,
    VOLUME_Z_WINDOW,
)


def _span_alpha(span: int) -> float:
    return 2.0 / (span + 1.0)


class _Ema:
    """Exponential average seeded by its first input (pandas `ewm(adjust=False)`)."""

    def __init__(self, alpha: float) -> None:
        self._alpha = alpha
        self.value: float | None = None

    def update(self, x: float) -> float:
        if self.value is None:
            self.value = x
        else:
            self.value += self._alpha * (x - self.value)
        return self.value


class _RollingWindow:
    """The last `size` values, with mean and sample standard deviation."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: deque[float] = deque(maxlen=size)
        # Length of the current run of identical values. A window made of one
        # repeated value has std exactly 0; a two-pass computation can leave
        # rounding noise there (the mean of 48 copies of x need not be x), which
        # would turn the z-score into noise / noise.
        self._run = 0

    def push(self, x: float) -> None:
        values = self._values
        self._run = self._run + 1 if values and values[-1] == x else 1
        values.append(x)

    @property
    def full(self) -> bool:
        return len(self._values) == self._size

    def mean(self) -> float:
        return sum(self._values) / self._size

    def std(self, mean: float) -> float:
        if self._run >= self._size:
            return 0.0
        # Two-pass: deviations from the mean avoid the cancellation of sum(x^2) - n*mean^2.
        # math.dist is sqrt(sum((x - mean)^2)) done in C with care for rounding, and is
        # several times faster than a Python-level loop over the window.
        deviation_norm = math.dist(self._values, [mean] * self._size)
        return deviation_norm / math.sqrt(self._size - 1)


class _WilderRsi:
    """RSI with Wilder smoothing (EMA with alpha = 1/period), on a 0..100 scale."""

    def __init__(self, period: int) -> None:
        self._gain = _Ema(1.0 / period)
        self._loss = _Ema(1.0 / period)
        self._prev_close: float | None = None

    def update(self, close: float) -> float | None:
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        delta = close - prev
        gain = self._gain.update(max(delta, 0.0))
        loss = self._loss.update(max(-delta, 0.0))
        if loss == 0.0:
            return 100.0 if gain > 0.0 else 50.0
        return 100.0 - 100.0 / (1.0 + gain / loss)


class _MacdHistogram:
    """MACD line minus its signal line, in price units."""

    def __init__(self) -> None:
        self._fast = _Ema(_span_alpha(MACD_FAST_SPAN))
        self._slow = _Ema(_span_alpha(MACD_SLOW_SPAN))
        self._signal = _Ema(_span_alpha(MACD_SIGNAL_SPAN))

    def update(self, close: float) -> float:
        macd = self._fast.update(close) - self._slow.update(close)
        return macd - self._signal.update(macd)


def _complete(vector: tuple[float | None, ...]) -> TypeGuard[tuple[float, ...]]:
    """No feature is missing: the warm-up is over."""
    return None not in vector


class FeatureState:
    """Feature state of one symbol; feed it closed bars in time order."""

    def __init__(self) -> None:
        self._bars_seen = 0
        # Closes before the current bar, enough for the longest return lag.
        self._closes: deque[float] = deque(maxlen=max(RETURN_LAGS))
        self._rsi = _WilderRsi(RSI_PERIOD)
        self._macd = _MacdHistogram()
        self._sma_window = _RollingWindow(SMA_WINDOW)
        self._prev_sma: float | None = None
        self._ema = _Ema(_span_alpha(EMA_SLOPE_SPAN))
        self._returns_window = _RollingWindow(VOLATILITY_WINDOW)
        self._volume_window = _RollingWindow(VOLUME_Z_WINDOW)

    @property
    def bars_seen(self) -> int:
        return self._bars_seen

    def update(self, close: float, volume: float) -> tuple[float, ...] | None:
        """Consume one closed bar; return features in FEATURE_NAMES order, or None during warm-up."""
        self._bars_seen += 1
        returns = self._log_returns(close)
        self._closes.append(close)
        sma_slope, close_sma_ratio = self._sma_features(close)
        vector = (
            *returns,
            self._rsi.update(close),
            self._macd.update(close) / close,
            sma_slope,
            self._ema_slope(close),
            self._volatility(returns[0]),
            self._volume_z(volume),
            close_sma_ratio,
        )
        # Every piece of state has been advanced above, so warm-up bars still count.
        return vector if _complete(vector) else None

    def _log_returns(self, close: float) -> tuple[float | None, ...]:
        closes = self._closes
        n = len(closes)
        return tuple(math.log(close / closes[-k]) if n >= k else None for k in RETURN_LAGS)

    def _sma_features(self, close: float) -> tuple[float | None, float | None]:
        self._sma_window.push(close)
        if not self._sma_window.full:
            return None, None
        sma = self._sma_window.mean()
        prev, self._prev_sma = self._prev_sma, sma
        slope = None if prev is None else sma / prev - 1.0
        return slope, math.log(close / sma)

    def _ema_slope(self, close: float) -> float | None:
        prev = self._ema.value
        ema = self._ema.update(close)
        return None if prev is None else ema / prev - 1.0

    def _volatility(self, ret_1: float | None) -> float | None:
        if ret_1 is None:
            return None
        window = self._returns_window
        window.push(ret_1)
        return window.std(window.mean()) if window.full else None

    def _volume_z(self, volume: float) -> float | None:
        window = self._volume_window
        window.push(volume)
        if not window.full:
            return None
        mean = window.mean()
        std = window.std(mean)
        # A flat volume window carries no information: report "average", not inf/NaN.
        return 0.0 if std == 0.0 else (volume - mean) / std
