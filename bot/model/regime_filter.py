"""The regime reading of one symbol bar after bar, at a few 2x2 products a
bar instead of the whole window's 168.

The reading is the forward filter over the newest WINDOW returns, from the
chain's stationary distribution: alpha = M_n ... M_1 start, where M_j holds
the transition and the likelihoods of return j. How that product is
associated is fixed by the window and the newest bar's position alone
(its open time over the timeframe), never by the calls made before, so a
restarted run and an uninterrupted one read the same bits:

- the window is cut where a block of WINDOW bar positions starts: the
  returns since the block began (the newest `k`, k = position % WINDOW + 1,
  at most the window's length) and the older ones before them;
- the newer part is folded oldest to newest (P <- M_j P), the older part
  newest to oldest (S <- S M_j), each step scaled to sum 1, and the reading
  is read from P S.

Bar after bar only P grows by one matrix; S is a suffix of the older block,
all of whose suffixes are folded once when a block begins. `fresh` folds a
window from nothing; `SlidingRegimeFilter` keeps the folds between bars and
falls back to `fresh` (same bits) after a gap, a new model or other closes.
A return that neither state can produce (both likelihoods underflow) makes
the reading 1.0 while it is in the window, as the batch filter did.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from bot.model.regime import SCALE, WINDOW, RegimeModel

Matrix = tuple[float, float, float, float]  # (m00, m01, m10, m11), rows: to-state, columns: from-state


def step_matrices(model: RegimeModel, closes: Sequence[float]) -> list[Matrix | None]:
    """The scaled step matrix of each return of `closes` (None: out of reach)."""
    logs = [_log(c) for c in closes]
    return [_step(model, later - earlier) for earlier, later in zip(logs, logs[1:], strict=False)]


def _log(close: float) -> float:
    return math.log(close) if close > 0 else math.nan  # a close <= 0 makes its returns out of reach


def _step(model: RegimeModel, log_return: float) -> Matrix | None:
    r = log_return * SCALE
    (m0, m1), (s0, s1) = model.means, model.stds
    (p00, p01), (p10, p11) = model.transition
    calm = math.exp(-0.5 * ((r - m0) / s0) ** 2) / s0
    turbulent = math.exp(-0.5 * ((r - m1) / s1) ** 2) / s1
    a, b, c, d = calm * p00, calm * p10, turbulent * p01, turbulent * p11
    total = (a + b) + (c + d)
    if not total > 0:  # both underflowed, or a NaN
        return None
    return a / total, b / total, c / total, d / total


def _times(later: Matrix, earlier: Matrix) -> Matrix:
    """later @ earlier, scaled so its four entries sum to 1."""
    l00, l01, l10, l11 = later
    e00, e01, e10, e11 = earlier
    a, b = l00 * e00 + l01 * e10, l00 * e01 + l01 * e11
    c, d = l10 * e00 + l11 * e10, l10 * e01 + l11 * e11
    total = (a + b) + (c + d)
    return a / total, b / total, c / total, d / total


def _fold_newer(matrices: Sequence[Matrix]) -> Matrix:
    """M_last ... M_first, folded from the first (oldest)."""
    product = matrices[0]
    for m in matrices[1:]:
        product = _times(m, product)
    return product


def _suffix_folds(matrices: Sequence[Matrix | None]) -> list[Matrix | None]:
    """folds[i] = M_last ... M_i folded from the last (newest) down to i;
    None from an out-of-reach matrix down."""
    folds: list[Matrix | None] = [None] * len(matrices)
    product: Matrix | None = None
    for i in range(len(matrices) - 1, -1, -1):
        m = matrices[i]
        if m is None:
            break
        product = m if product is None else _times(product, m)
        folds[i] = product
    return folds


def _reading(model: RegimeModel, product: Matrix) -> float:
    q00, q01, q10, q11 = product
    start_calm, start_turbulent = model.stationary()
    alpha_calm = q00 * start_calm + q01 * start_turbulent
    alpha_turbulent = q10 * start_calm + q11 * start_turbulent
    return alpha_turbulent / (alpha_calm + alpha_turbulent)


def newer_count(position: int, returns: int) -> int:
    """How many of the window's newest returns lie in the newest block."""
    return min(position % WINDOW + 1, returns)


def fresh(model: RegimeModel, closes: np.ndarray | Sequence[float], position: int) -> float | None:
    """P(turbulent) after the newest WINDOW returns of `closes`, whose
    newest bar has position `position` (open time // timeframe); None
    without a return."""
    window = [float(c) for c in closes[-(WINDOW + 1) :]]
    matrices = step_matrices(model, window)
    if not matrices:
        return None
    if any(m is None for m in matrices):
        return 1.0
    k = newer_count(position, len(matrices))
    newer = _fold_newer(matrices[len(matrices) - k :])  # type: ignore[arg-type]  # no None, checked
    older = _suffix_folds(matrices[: len(matrices) - k])
    return _reading(model, _times(newer, older[0]) if older and older[0] is not None else newer)


class SlidingRegimeFilter:
    """One symbol's reading, kept between bars (see the module's doc)."""

    def __init__(self) -> None:
        self.model: RegimeModel | None = None
        self.position = -1
        self.newest_close = math.nan
        self.window: deque[Matrix | None] = deque(maxlen=WINDOW)
        self.out_of_reach = 0  # None matrices in the window
        self.newer: Matrix | None = None  # fold of the newest block's returns
        self.newer_count = 0
        self.older_folds: list[Matrix | None] = []  # suffix folds of the block before

    def reading(self, model: RegimeModel, closes: np.ndarray, position: int) -> float | None:
        if len(closes) < 2:
            self.model = None
            return None
        newest, previous = float(closes[-1]), float(closes[-2])
        follows = model is self.model and position == self.position + 1 and previous == self.newest_close
        if follows:
            self._advance(model, _step(model, _log(newest) - _log(previous)), position)
        else:
            self._rebuild(model, closes, position)
        self.model, self.position, self.newest_close = model, position, newest
        return self._read(model)

    def _rebuild(self, model: RegimeModel, closes: np.ndarray, position: int) -> None:
        matrices = step_matrices(model, [float(c) for c in closes[-(WINDOW + 1) :]])
        self.window = deque(matrices, maxlen=WINDOW)
        self.out_of_reach = sum(m is None for m in matrices)
        k = newer_count(position, len(matrices))
        self._start_block(matrices[: len(matrices) - k])
        for m in matrices[len(matrices) - k :]:
            self._grow(m)

    def _advance(self, model: RegimeModel, m: Matrix | None, position: int) -> None:
        if len(self.window) == WINDOW and self.window[0] is None:
            self.out_of_reach -= 1
        if position % WINDOW == 0:  # a block begins: the window so far is the block before
            self._start_block(list(self.window))
        self.window.append(m)
        self.out_of_reach += m is None
        self._grow(m)

    def _start_block(self, older: list[Matrix | None]) -> None:
        self.older_folds = _suffix_folds(older)
        self.newer, self.newer_count = None, 0

    def _grow(self, m: Matrix | None) -> None:
        # A None in the newest block leaves `newer` unusable until the next
        # block begins; the window holds that None until then anyway.
        if m is None or (self.newer is None and self.newer_count > 0):
            self.newer = None
        else:
            self.newer = m if self.newer is None else _times(m, self.newer)
        self.newer_count += 1

    def _read(self, model: RegimeModel) -> float:
        if self.out_of_reach:
            return 1.0
        assert self.newer is not None  # no None in the window: the newest block's fold exists
        older = len(self.window) - self.newer_count
        if older == 0:
            return _reading(model, self.newer)
        fold = self.older_folds[len(self.older_folds) - older]
        assert fold is not None  # no None among the window's older returns
        return _reading(model, _times(self.newer, fold))
