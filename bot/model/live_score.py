"""Scores each prediction once its target's outcome is known (the horizon
has passed, or a barrier was reached), and keeps a rolling accuracy and ROC
AUC per model version: how the model is doing in use, next to how it did on
validation when it was trained."""

from __future__ import annotations

import numpy as np

from bot.domain import Bar
from bot.model.metrics import auc_or_none
from bot.model.targets import OutcomeTracker, Resolved, Target

WINDOW = 500  # newest scored predictions per version
EVERY = 24  # recompute the rolling metrics after this many new scores


class LiveScore:
    def __init__(self, target: Target = Target()) -> None:
        self.tracker = OutcomeTracker(target)
        self.recent: dict[str, ScoredWindow] = {}
        self.since_update: dict[str, int] = {}

    def expect(self, symbol: str, ts: int, version: str, prob: float, close: float) -> None:
        self.tracker.expect(symbol, ts, version, prob, close)

    def settle(self, bar: Bar) -> tuple[list[Resolved], list[tuple]]:
        """The predictions this bar resolves, and the rolling metrics of
        each version due for an update."""
        resolved = self.tracker.settle(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)
        due = []
        for r in resolved:
            self.add(r.version, r.prob, r.label)
            count = self.since_update.get(r.version, 0) + 1
            self.since_update[r.version] = count % EVERY
            if count % EVERY == 0:
                due.append(self.metrics(r.version))
        return resolved, due

    def add(self, version: str, prob: float, outcome: int) -> None:
        window = self.recent.get(version)
        if window is None:
            window = self.recent[version] = ScoredWindow(WINDOW)
        window.append(prob, outcome)

    def metrics(self, version: str) -> tuple[str, int, float, float | None]:
        prob, outcome = self.recent[version].arrays()
        accuracy = float(np.mean((prob > 0.5) == (outcome > 0.5)))
        return version, len(prob), accuracy, auc_or_none(prob, outcome)


class ScoredWindow:
    """The newest `size` (probability, outcome) pairs of one version, oldest
    first, kept in two arrays used as rings. Over many symbols the metrics
    are due several times a step, and building an array from a deque of
    500 tuples each time cost more than the AUC itself."""

    def __init__(self, size: int) -> None:
        self.prob = np.empty(size, dtype=np.float64)
        self.outcome = np.empty(size, dtype=np.float64)
        self.count = 0  # pairs held, at most size
        self.next = 0  # where the next pair goes: the oldest, once full

    def append(self, prob: float, outcome: int) -> None:
        self.prob[self.next], self.outcome[self.next] = prob, outcome
        self.next = (self.next + 1) % len(self.prob)
        self.count = min(self.count + 1, len(self.prob))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, outcomes), oldest first."""
        if self.count < len(self.prob):
            return self.prob[: self.count].copy(), self.outcome[: self.count].copy()
        order = np.r_[self.next : len(self.prob), 0 : self.next]
        return self.prob[order], self.outcome[order]
