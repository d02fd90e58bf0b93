"""What a model learns to predict, and what each prediction turned out to be.

Two targets, both about bars after the one a prediction is made at (bar i):

- horizon: the log return from close[i] to close[i + h]. Its label is 1
  when that return is positive; its realized return is
  close[i + h] / close[i] - 1.
- triple_barrier: a long entered at open[i + 1] with a stop `stop_loss`
  below and a take-profit `take_profit` above the entry, held at most h
  bars (i + 1 .. i + h). The label is 1 when the take-profit is reached
  first. Bars are read as the paper broker reads them: a bar that reaches
  both barriers counts as the stop (its path is unknown; the worse case is
  the honest one), a bar that opens beyond a barrier exits at its open.
  The realized return is the trade's, exit / entry - 1, before costs; at the
  time limit the trade exits at close[i + h].

The batch form (`outcomes`, for training labels and reports) and the
streaming form (`OutcomeTracker`, for scoring live predictions bar by bar)
implement the same rules; a test holds them equal. A label never reads a
bar past i + h, which is what the training embargo is sized by.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

HORIZON = "horizon"
TRIPLE_BARRIER = "triple_barrier"


@dataclass(frozen=True)
class Target:
    kind: str = HORIZON
    horizon_bars: int = 1
    regression: bool = False  # learn the realized log return instead of the label
    take_profit: float | None = None  # triple_barrier: fractions of the entry price
    stop_loss: float | None = None

    @classmethod
    def of(cls, config) -> Target:
        """The target a run's config asks for (`config` is a bot.config.Config)."""
        m = config.model
        barrier = m.target == TRIPLE_BARRIER
        return cls(
            kind=m.target,
            horizon_bars=m.horizon_bars,
            regression=not m.is_classifier,
            take_profit=config.risk.take_profit_pct if barrier else None,
            stop_loss=config.risk.stop_loss_pct if barrier else None,
        )

    @property
    def lookahead_bars(self) -> int:
        """The furthest bar after i that a label reads."""
        return self.horizon_bars

    def describe(self) -> str:
        if self.kind == TRIPLE_BARRIER:
            return (
                f"take-profit {self.take_profit:.2%} before stop {self.stop_loss:.2%} within {self.horizon_bars} bars"
            )
        return f"log return over the next {self.horizon_bars} bar{'s' * (self.horizon_bars > 1)}"

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict | None) -> Target:
        return cls(**data) if data else cls()

    # -- batch ------------------------------------------------------------------

    def outcomes(
        self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(label, realized) per bar; NaN where the outcome is not known yet
        (the last bars, whose horizon reaches past the data)."""
        if self.kind == TRIPLE_BARRIER:
            assert self.take_profit is not None and self.stop_loss is not None  # a triple barrier has both
            return _barrier_outcomes(open_, high, low, close, self.horizon_bars, self.take_profit, self.stop_loss)
        return _horizon_outcomes(close, self.horizon_bars)


def _horizon_outcomes(close: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(close)
    label = np.full(n, np.nan)
    realized = np.full(n, np.nan)
    if n > h:
        later, now = close[h:], close[:-h]
        realized[:-h] = later / now - 1.0
        label[:-h] = (later > now).astype(float)
    return label, realized


def _barrier_outcomes(
    open_, high, low, close, h: int, take_profit: float, stop_loss: float
) -> tuple[np.ndarray, np.ndarray]:
    """Walks the h bars after every bar at once: offset k = 1..h looks at
    bar i + k for every i still unresolved."""
    n = len(close)
    label = np.full(n, np.nan)
    realized = np.full(n, np.nan)
    starts = np.arange(max(n - h, 0))  # bars whose whole horizon is in the data
    if len(starts) == 0:
        return label, realized
    entry = open_[starts + 1]
    tp, sl = entry * (1 + take_profit), entry * (1 - stop_loss)
    open_rows = np.ones(len(starts), dtype=bool)
    for k in range(1, h + 1):
        j = starts + k
        stopped = open_rows & (low[j] <= sl)
        label[starts[stopped]] = 0.0
        realized[starts[stopped]] = np.minimum(open_[j[stopped]], sl[stopped]) / entry[stopped] - 1.0
        taken = open_rows & ~stopped & (high[j] >= tp)
        label[starts[taken]] = 1.0
        realized[starts[taken]] = np.maximum(open_[j[taken]], tp[taken]) / entry[taken] - 1.0
        open_rows &= ~(stopped | taken)
    timed_out = starts[open_rows]
    label[timed_out] = 0.0
    realized[timed_out] = close[timed_out + h] / entry[open_rows] - 1.0
    return label, realized


# -- streaming ----------------------------------------------------------------------


@dataclass
class Pending:
    """A prediction waiting for its outcome."""

    ts: int
    version: str
    prob: float
    close: float  # at the prediction
    # Bars it has seen = its symbol's bar count now - `start`: the count when
    # it was expected, plus one for each later bar at or before its own ts.
    start: int = 0
    entry: float | None = None  # triple_barrier: the next bar's open
    take_profit: float = math.inf  # triple_barrier: the prices of its barriers, once entered
    stop_loss: float = -math.inf


@dataclass(frozen=True)
class Resolved:
    symbol: str
    ts: int
    version: str
    prob: float
    label: int
    realized: float


class OutcomeTracker:
    """Resolves each symbol's open predictions as its bars arrive.

    A bar counts for a prediction when it comes after the prediction was
    expected and opens after the prediction's bar. Predictions expected in
    bar order (the engine's, and a restart's) then have seen more bars the
    older they are, so under the horizon target the ones a bar resolves
    are the oldest few: the bar looks at those, not at all h of them,
    which is what keeps a step over many symbols cheap. Anything else
    (a barrier target, predictions expected out of order) is walked whole.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.pending: dict[str, deque[Pending]] = {}
        self.bars_seen: dict[str, int] = {}
        self.in_order: dict[str, bool] = {}

    def expect(self, symbol: str, ts: int, version: str, prob: float, close: float) -> None:
        waiting = self.pending.setdefault(symbol, deque())
        if waiting and ts < waiting[-1].ts:
            self.in_order[symbol] = False
        elif not waiting:
            self.in_order[symbol] = True
        waiting.append(Pending(ts, version, prob, close, start=self.bars_seen.get(symbol, 0)))

    def settle(self, symbol: str, ts: int, open_: float, high: float, low: float, close: float) -> list[Resolved]:
        """The predictions this bar (of `symbol`, opened at `ts`) resolves, oldest first."""
        seen = self.bars_seen[symbol] = self.bars_seen.get(symbol, 0) + 1
        waiting = self.pending.get(symbol)
        if not waiting:
            return []
        if self.target.kind == TRIPLE_BARRIER or not self.in_order.get(symbol, True):
            return self._walk(symbol, waiting, seen, ts, open_, high, low, close)
        # A bar at or before a prediction's own decides nothing for it; in
        # bar order such predictions are the newest.
        for p in reversed(waiting):
            if ts > p.ts:
                break
            p.start += 1
        resolved = []
        horizon = self.target.horizon_bars
        while waiting and waiting[0].ts < ts and seen - waiting[0].start >= horizon:
            p = waiting.popleft()
            resolved.append(Resolved(symbol, p.ts, p.version, p.prob, int(close > p.close), close / p.close - 1.0))
        return resolved

    def _walk(self, symbol: str, waiting: deque[Pending], seen: int, ts: int, *prices: float) -> list[Resolved]:
        """Every open prediction looked at: the loop written out, the
        barriers priced once."""
        resolved: list[Resolved] = []
        still: deque[Pending] = deque()
        barrier = self.target.kind == TRIPLE_BARRIER
        horizon = self.target.horizon_bars
        close = prices[3]  # open, high, low, close
        for p in waiting:
            if ts <= p.ts:
                p.start += 1
                still.append(p)
                continue
            bars = seen - p.start
            if barrier:
                outcome = self._barrier_outcome(p, bars, *prices)
            elif bars >= horizon:
                outcome = int(close > p.close), close / p.close - 1.0
            else:
                outcome = None
            if outcome is None:
                still.append(p)
            else:
                resolved.append(Resolved(symbol, p.ts, p.version, p.prob, *outcome))
        self.pending[symbol] = still
        if not still:
            self.in_order[symbol] = True
        return resolved

    def _barrier_outcome(
        self, p: Pending, bars: int, open_: float, high: float, low: float, close: float
    ) -> tuple[int, float] | None:
        if p.entry is None:
            t = self.target
            assert t.take_profit is not None and t.stop_loss is not None  # a triple barrier has both
            p.entry = open_
            p.take_profit, p.stop_loss = open_ * (1 + t.take_profit), open_ * (1 - t.stop_loss)
        if low <= p.stop_loss:
            return 0, min(open_, p.stop_loss) / p.entry - 1.0
        if high >= p.take_profit:
            return 1, max(open_, p.take_profit) / p.entry - 1.0
        if bars >= self.target.horizon_bars:
            return 0, close / p.entry - 1.0
        return None
