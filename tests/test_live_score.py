"""The live score's rolling window: the newest pairs, oldest first, through
the ring's wrap-around, and metrics equal to a direct computation on them."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from bot.model.live_score import WINDOW, LiveScore, ScoredWindow
from bot.model.metrics import auc_or_none


@pytest.mark.parametrize("appended", [0, 1, 7, 8, 9, 23, 64])
def test_the_window_holds_the_newest_pairs_oldest_first(appended: int) -> None:
    rng = np.random.default_rng(appended)
    window, reference = ScoredWindow(8), deque(maxlen=8)
    for _ in range(appended):
        pair = (float(rng.random()), int(rng.integers(0, 2)))
        window.append(*pair)
        reference.append(pair)
    prob, outcome = window.arrays()
    assert prob.tolist() == [p for p, _ in reference]
    assert outcome.tolist() == [float(o) for _, o in reference]


def test_metrics_are_those_of_the_newest_window_of_scores() -> None:
    rng = np.random.default_rng(3)
    live, pairs = LiveScore(), []
    for _ in range(WINDOW + 137):  # past a full ring, so it has wrapped
        prob = float(rng.random())
        outcome = int(rng.random() < prob)
        live.add("v1", prob, outcome)
        pairs.append((prob, outcome))
    newest = np.array(pairs[-WINDOW:], dtype=np.float64)
    version, n, accuracy, auc = live.metrics("v1")
    assert (version, n) == ("v1", WINDOW)
    assert accuracy == float(np.mean((newest[:, 0] > 0.5) == (newest[:, 1] > 0.5)))
    assert auc == auc_or_none(newest[:, 0], newest[:, 1])


def test_the_window_returns_copies_not_its_own_arrays() -> None:
    window = ScoredWindow(4)
    window.append(0.7, 1)
    prob, _ = window.arrays()
    prob[0] = 0.0
    assert window.arrays()[0].tolist() == [0.7]
