"""Scores each prediction once the bar it predicted has closed, and keeps a
rolling accuracy and ROC AUC per model version: how the model is doing in
use, next to how it did on validation when it was trained."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from bot.domain import Bar
from bot.model.metrics import auc_or_none

WINDOW = 500  # newest scored predictions per version
EVERY = 24  # recompute the rolling metrics after this many new scores


@dataclass(frozen=True)
class Open:
    ts: int
    version: str
    prob: float
    close: float


class LiveScore:
    def __init__(self) -> None:
        self.open: dict[str, Open] = {}
        self.recent: dict[str, deque[tuple[float, int]]] = {}
        self.since_update: dict[str, int] = {}

    def expect(self, symbol: str, ts: int, version: str, prob: float, close: float) -> None:
        self.open[symbol] = Open(ts, version, prob, close)

    def settle(self, bar: Bar) -> tuple[tuple[str, int, int] | None, tuple | None]:
        """The outcome of the open prediction this bar decides, and the
        version's rolling metrics when they are due for an update."""
        pending = self.open.pop(bar.symbol, None)
        if pending is None or bar.ts <= pending.ts:
            return None, None
        outcome = int(bar.close > pending.close)
        self.add(pending.version, pending.prob, outcome)
        count = self.since_update.get(pending.version, 0) + 1
        self.since_update[pending.version] = count % EVERY
        metrics = self.metrics(pending.version) if count % EVERY == 0 else None
        return (bar.symbol, pending.ts, outcome), metrics

    def add(self, version: str, prob: float, outcome: int) -> None:
        self.recent.setdefault(version, deque(maxlen=WINDOW)).append((prob, outcome))

    def metrics(self, version: str) -> tuple[str, int, float, float | None]:
        pairs = np.array(self.recent[version], dtype=np.float64)
        prob, outcome = pairs[:, 0], pairs[:, 1]
        accuracy = float(np.mean((prob > 0.5) == (outcome > 0.5)))
        return version, len(pairs), accuracy, auc_or_none(prob, outcome)
