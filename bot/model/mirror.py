"""The mirror image of a market: the same bars with every log return
negated (price p -> k / p), so that a rise of x% reads as a fall of x%.

Training on a market and its mirror image together teaches a model the
shapes that precede a move, and leaves out which way the training year
happened to drift. A year of hourly bars holds only a few dozen
independent two-day returns, so that year's base rate (55% up, say) is
mostly chance, yet a net learns it as readily as any pattern, and it
decides every call near 50%. On markets whose truth is known
(tests/test_planted_signal.py) that bias was the largest part of the
distance to the Bayes-optimal accuracy.

Labels and realized returns are computed from the mirrored prices by the
target's own rules, so every target mirrors exactly; features through
their mirror readings (bot/features/spec.py).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from bot.features.spec import FEATURE_NAMES, MIRRORED

if TYPE_CHECKING:
    from bot.model.dataset import SymbolSeries


def mirror_vectors(vectors: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
    """Feature rows (any leading shape, FEATURE_NAMES order, or `columns` of
    it) as they read on the mirror-image market."""
    names = [FEATURE_NAMES[c] for c in (columns if columns is not None else range(len(FEATURE_NAMES)))]
    scale = np.array([MIRRORED[n][0] for n in names])
    offset = np.array([MIRRORED[n][1] for n in names])
    return vectors * scale + offset


def mirror_series(s: SymbolSeries) -> SymbolSeries:
    """The series' mirror image, pivoting about its first close (any pivot
    gives the same returns, features and labels)."""
    pivot = float(s.close[0]) ** 2
    open_, high, low, close = s.prices()
    # A bar's high mirrors to the new low and its low to the new high.
    ohlc = np.column_stack([pivot / open_, pivot / low, pivot / high, pivot / close])
    return dataclasses.replace(s, close=pivot / s.close, vectors=mirror_vectors(s.vectors), ohlc=ohlc)
