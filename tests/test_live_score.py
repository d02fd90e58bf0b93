"""The live score's rolling window: the newest pairs, oldest first, through
the ring's wrap-around, and metrics equal to a direct computation on them."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from bot.model.live_score import WINDOW, LiveScore
from bot.model.metrics import auc_or_none


def scored(live: LiveScore, count: int, seed: int) -> list[tuple[float, int]]:
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        prob = float(rng.random())
        outcome = int(rng.random() < prob)
        live.add("v1", prob, outcome)
        pairs.append((prob, outcome))
    return pairs


@pytest.mark.parametrize("appended", [1, 7, WINDOW - 1, WINDOW, WINDOW + 1, 2 * WINDOW + 137])
def test_the_window_holds_the_newest_pairs_oldest_first(appended: int) -> None:
    live = LiveScore()
    reference = deque(scored(live, appended, appended), maxlen=WINDOW)
    window = live.recent["v1"]
    pairs = window.newest(window.count)
    assert pairs[:, 0].tolist() == [p for p, _ in reference]
    assert pairs[:, 1].tolist() == [float(o) for _, o in reference]


def test_metrics_are_those_of_the_newest_window_of_scores() -> None:
    live = LiveScore()
    pairs = scored(live, WINDOW + 137, 3)  # past a full ring, so it has wrapped
    newest = np.array(pairs[-WINDOW:], dtype=np.float64)
    version, n, accuracy, auc = live.metrics("v1")
    assert (version, n) == ("v1", WINDOW)
    assert accuracy == float(np.mean((newest[:, 0] > 0.5) == (newest[:, 1] > 0.5)))
    assert auc == auc_or_none(newest[:, 0], newest[:, 1])


def test_the_window_returns_copies_not_its_own_rows() -> None:
    live = LiveScore()
    live.add("v1", 0.7, 1)
    window = live.recent["v1"]
    window.newest(1)[0, 0] = 0.0
    assert window.newest(1)[:, 0].tolist() == [0.7]
