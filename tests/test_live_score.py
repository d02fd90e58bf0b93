"""The live score's rolling window: the newest pairs, oldest first, through
the ring's wrap-around, and metrics equal to a direct computation on them."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from bot.domain import Bar
from bot.model.live_score import EVERY, WINDOW, LiveScore
from bot.model.metrics import auc_or_none
from bot.model.targets import Target

HOUR = 3_600_000


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


def a_step_of_many_symbols(live: LiveScore, step: int, symbols: int, rng: np.random.Generator) -> None:
    """Predictions of one bar time for each symbol, horizon 1: the next
    step's bars resolve them all."""
    for s in range(symbols):
        live.expect(f"S{s}", step * HOUR, "v1", float(rng.random()), 100.0)


def test_a_version_due_several_times_in_a_step_is_scored_once_as_it_stood_last() -> None:
    """Over many symbols a version comes due every EVERY scores, several
    times in one step; the store keeps only the last metrics, so those are
    the ones computed: exactly what scoring at each crossing left last."""
    live, plain = LiveScore(Target(horizon_bars=1)), LiveScore(Target(horizon_bars=1))
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    symbols = 3 * EVERY + 7  # three crossings in a step, rows after the last one
    steps_due = 0
    for step in range(25):  # well past a full window; each step resolves the one before
        a_step_of_many_symbols(live, step, symbols, rng)
        a_step_of_many_symbols(plain, step, symbols, twin)
        last_at_crossing = None
        for s in range(symbols):
            bar = Bar(f"S{s}", (step + 1) * HOUR, 100.0, 101.0, 99.0, 100.0 + float(rng.random()) - 0.5, 1.0)
            twin.random()  # the two draw alike
            live.settle(bar)
            for r in plain.tracker.settle(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close):
                plain.add(r.version, r.prob, r.label)
                count = plain.since_update.get(r.version, 0) + 1
                plain.since_update[r.version] = count % EVERY
                if count % EVERY == 0:
                    last_at_crossing = plain.metrics(r.version)
        due = live.due_metrics()
        assert last_at_crossing is not None and due == [last_at_crossing], step
        steps_due += 1
        assert live.due_metrics() == []  # taken once
    assert steps_due == 25 and due[0][1] == WINDOW
