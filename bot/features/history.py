"""The recent bars and feature vectors of one symbol: what inference
windows, the volatility and regime models, and retraining read. Bounded, so
a daemon running for months keeps flat memory.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

import numpy as np

# Rows the inference window and the companions' closes are read from
# without a Python loop: enough for the default seq_len and the regime's
# window; a longer read falls back to the deques.
RECENT_ROWS = 256


class RecentRows:
    """The newest rows of a fixed width, kept twice over in one array so
    the newest n are always one contiguous slice: a window costs a copy,
    not a list of tuples turned into an array."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf: np.ndarray | None = None  # (2 * size, width), made at the first row
        self.next = 0  # where the next row goes
        self.count = 0

    def append(self, row: tuple[float, ...]) -> None:
        if self.buf is None:
            self.buf = np.empty((2 * self.size, len(row)), dtype=np.float64)
        self.buf[self.next] = row
        self.buf[self.next + self.size] = row
        self.next = (self.next + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def newest(self, n: int) -> np.ndarray:
        """A copy of the newest n rows (n <= count), oldest first."""
        assert self.buf is not None and n <= self.count
        end = self.next + self.size
        return self.buf[end - n : end].copy()


class FeatureHistory:
    def __init__(self, capacity: int) -> None:
        self.ts: deque[int] = deque(maxlen=capacity)
        # open, high, low, close: triple-barrier labels read a bar's range.
        self.prices: deque[tuple[float, float, float, float]] = deque(maxlen=capacity)
        self.close: deque[float] = deque(maxlen=capacity)
        self.vectors: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self.total = 0  # vectors ever appended, including those dropped
        self._recent_vectors = RecentRows(min(capacity, RECENT_ROWS))
        self._recent_closes = RecentRows(min(capacity, RECENT_ROWS))

    def append(self, ts: int, prices: tuple[float, float, float, float], vector: tuple[float, ...]) -> None:
        self.ts.append(ts)
        self.prices.append(prices)
        self.close.append(prices[3])
        self.vectors.append(vector)
        self.total += 1
        self._recent_vectors.append(vector)
        self._recent_closes.append((prices[3],))

    def window(self, length: int) -> np.ndarray:
        """The newest `length` vectors, oldest first, shape (length, features)."""
        if 0 < length <= self._recent_vectors.count:
            return self._recent_vectors.newest(length)
        # From the right end: islice from the left would walk the whole deque.
        newest_first = list(islice(reversed(self.vectors), length))
        return np.array(newest_first[::-1], dtype=np.float64)

    def recent_closes(self, length: int) -> np.ndarray:
        """Up to the newest `length` closes, oldest first."""
        if 0 < length and min(length, len(self.close)) <= self._recent_closes.count:
            return self._recent_closes.newest(min(length, len(self.close)))[:, 0]
        newest_first = list(islice(reversed(self.close), length))
        return np.array(newest_first[::-1], dtype=np.float64)

    def arrays(self, newest: int, skip_first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ts, close, vectors, ohlc) of up to `newest` rows, leaving out the
        first `skip_first` vectors ever seen (the warm-up)."""
        kept = min(newest, len(self.vectors), max(self.total - skip_first, 0))
        start = len(self.vectors) - kept
        ts = np.fromiter(islice(self.ts, start, None), dtype=np.int64, count=kept)
        close = np.fromiter(islice(self.close, start, None), dtype=np.float64, count=kept)
        width = len(self.vectors[-1]) if self.vectors else 0  # reshape(0, -1) cannot tell it
        vectors = np.array(list(islice(self.vectors, start, None)), dtype=np.float64).reshape(kept, width)
        ohlc = np.array(list(islice(self.prices, start, None)), dtype=np.float64).reshape(kept, 4)
        return ts, close, vectors, ohlc
