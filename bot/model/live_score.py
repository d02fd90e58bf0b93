"""Scores each prediction once its target's outcome is known (the horizon
has passed, or a barrier was reached), and keeps a rolling accuracy and ROC
AUC per model version: how the model is doing in use, next to how it did on
validation when it was trained."""

from __future__ import annotations

import numpy as np

from bot.domain import Bar
from bot.features.history import RecentRows
from bot.model.metrics import auc_or_none
from bot.model.targets import OutcomeTracker, Resolved, Target

WINDOW = 500  # newest scored predictions per version
EVERY = 24  # recompute the rolling metrics after this many new scores


class LiveScore:
    def __init__(self, target: Target = Target()) -> None:
        self.tracker = OutcomeTracker(target)
        # Per version, rows of (probability, outcome) in a ring: over many
        # symbols the metrics are due several times a step, and an array
        # built from a deque of 500 tuples each time cost more than the AUC.
        self.recent: dict[str, RecentRows] = {}
        self.since_update: dict[str, int] = {}
        # The window of each version that came due in this step, as it stood
        # then. Over many symbols a version comes due several times a step
        # and only the last of its metrics is kept, so only that window is
        # scored (a copy of its rows costs about a seventieth of scoring them).
        self.due: dict[str, np.ndarray] = {}

    def expect(self, symbol: str, ts: int, version: str, prob: float, close: float) -> None:
        self.tracker.expect(symbol, ts, version, prob, close)

    def settle(self, bar: Bar) -> list[Resolved]:
        """The predictions this bar resolves; a version whose rolling
        metrics are due keeps its window for `due_metrics`."""
        resolved = self.tracker.settle(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)
        for r in resolved:
            self.add(r.version, r.prob, r.label)
            count = self.since_update.get(r.version, 0) + 1
            self.since_update[r.version] = count % EVERY
            if count % EVERY == 0:
                window = self.recent[r.version]
                self.due[r.version] = window.newest(window.count)
        return resolved

    def due_metrics(self) -> list[tuple[str, int, float, float | None]]:
        """The rolling metrics of each version that came due since the last
        call, of its window when it last came due; then none are due."""
        due, self.due = self.due, {}
        return [_metrics(version, pairs) for version, pairs in due.items()]

    def add(self, version: str, prob: float, outcome: int) -> None:
        window = self.recent.get(version)
        if window is None:
            window = self.recent[version] = RecentRows(WINDOW)
        window.append((prob, outcome))

    def metrics(self, version: str) -> tuple[str, int, float, float | None]:
        window = self.recent[version]
        return _metrics(version, window.newest(window.count))


def _metrics(version: str, pairs: np.ndarray) -> tuple[str, int, float, float | None]:
    """(version, n, accuracy, ROC AUC) of (probability, outcome) rows."""
    prob, outcome = pairs[:, 0], pairs[:, 1]
    accuracy = float(np.mean((prob > 0.5) == (outcome > 0.5)))
    return version, len(prob), accuracy, auc_or_none(prob, outcome)
