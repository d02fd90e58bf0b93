"""The recent bars and feature vectors of one symbol: what inference
windows, the volatility and regime models, and retraining read. Bounded, so
a daemon running for months keeps flat memory.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

import numpy as np


class FeatureHistory:
    def __init__(self, capacity: int) -> None:
        self.ts: deque[int] = deque(maxlen=capacity)
        # open, high, low, close: triple-barrier labels read a bar's range.
        self.prices: deque[tuple[float, float, float, float]] = deque(maxlen=capacity)
        self.close: deque[float] = deque(maxlen=capacity)
        self.vectors: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self.total = 0  # vectors ever appended, including those dropped

    def append(self, ts: int, prices: tuple[float, float, float, float], vector: tuple[float, ...]) -> None:
        self.ts.append(ts)
        self.prices.append(prices)
        self.close.append(prices[3])
        self.vectors.append(vector)
        self.total += 1

    def window(self, length: int) -> np.ndarray:
        """The newest `length` vectors, oldest first, shape (length, features)."""
        # From the right end: islice from the left would walk the whole deque.
        newest_first = list(islice(reversed(self.vectors), length))
        return np.array(newest_first[::-1], dtype=np.float64)

    def recent_closes(self, length: int) -> np.ndarray:
        """Up to the newest `length` closes, oldest first."""
        newest_first = list(islice(reversed(self.close), length))
        return np.array(newest_first[::-1], dtype=np.float64)

    def arrays(self, newest: int, skip_first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ts, close, vectors, ohlc) of up to `newest` rows, leaving out the
        first `skip_first` vectors ever seen (the warm-up)."""
        kept = min(newest, len(self.vectors), max(self.total - skip_first, 0))
        start = len(self.vectors) - kept
        ts = np.fromiter(islice(self.ts, start, None), dtype=np.int64, count=kept)
        close = np.fromiter(islice(self.close, start, None), dtype=np.float64, count=kept)
        vectors = np.array(list(islice(self.vectors, start, None)), dtype=np.float64).reshape(kept, -1)
        ohlc = np.array(list(islice(self.prices, start, None)), dtype=np.float64).reshape(kept, 4)
        return ts, close, vectors, ohlc
