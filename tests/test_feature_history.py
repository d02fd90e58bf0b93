"""The inference window and the companions' closes come from a ring kept
twice over; they must be exactly what the bars' own deques hold, through
wrap-arounds, at every length, short histories and long reads included."""

from __future__ import annotations

from collections import deque

import numpy as np

from bot.features.history import RECENT_ROWS, FeatureHistory


def test_windows_and_closes_equal_the_deques_through_wrap_arounds() -> None:
    capacity = RECENT_ROWS + 90  # reads beyond the ring fall back to the deques
    history = FeatureHistory(capacity)
    vectors: deque[tuple[float, ...]] = deque(maxlen=capacity)
    closes: deque[float] = deque(maxlen=capacity)
    rng = np.random.default_rng(3)
    for t in range(3 * RECENT_ROWS + 7):
        vector = tuple(rng.standard_normal(5).tolist())
        close = float(rng.uniform(1, 2))
        history.append(t, (close, close, close, close), vector)
        vectors.append(vector)
        closes.append(close)
        if t % 17 and t not in (0, 1, RECENT_ROWS - 1, RECENT_ROWS, 2 * RECENT_ROWS + 1):
            continue
        for length in (1, 2, 48, 169, RECENT_ROWS, RECENT_ROWS + 1, capacity, capacity + 5):
            want = np.array(list(vectors)[-length:], dtype=np.float64)
            if length <= len(vectors):
                got = history.window(length)
                assert got.shape == want.shape and np.array_equal(got, want)
            got_closes = history.recent_closes(length)
            assert np.array_equal(got_closes, np.array(list(closes)[-length:], dtype=np.float64))


def test_a_window_is_a_copy_that_later_bars_do_not_change() -> None:
    history = FeatureHistory(100)
    for t in range(60):
        history.append(t, (1.0, 1.0, 1.0, float(t)), (float(t), -float(t)))
    window, closes = history.window(10), history.recent_closes(10)
    for t in range(60, 200):
        history.append(t, (1.0, 1.0, 1.0, float(t)), (float(t), -float(t)))
    assert window[:, 0].tolist() == list(range(50, 60)) and closes.tolist() == list(range(50, 60))
