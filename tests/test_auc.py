"""The rank-based ROC AUC used in the bar step equals scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bot.model.metrics import auc_or_none


@pytest.mark.parametrize("seed", range(20))
def test_auc_matches_scikit_learn_including_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 600))
    label = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(float)
    if not 0 < label.sum() < n:
        label[0], label[-1] = 0.0, 1.0
    score = np.round(rng.random(n) + 0.3 * label, int(rng.integers(1, 4)))  # rounding makes ties
    assert auc_or_none(score, label) == pytest.approx(roc_auc_score(label, score), abs=1e-12)


def test_auc_is_none_with_one_class() -> None:
    assert auc_or_none(np.array([0.2, 0.9]), np.array([1.0, 1.0])) is None
    assert auc_or_none(np.array([0.2, 0.9]), np.array([0.0, 0.0])) is None


@pytest.mark.parametrize("seed", range(20))
def test_average_ranks_equal_scipys_rankdata_exactly(seed: int) -> None:
    from scipy.stats import rankdata

    from bot.model.metrics import average_ranks

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 800))
    x = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # many ties at 0 decimals
    np.testing.assert_array_equal(average_ranks(x), rankdata(x))


@pytest.mark.parametrize("seed", range(30))
def test_resampled_aucs_equal_auc_or_none_of_each_resample_bit_for_bit(seed: int) -> None:
    """The gate's bootstrap scores every resample at once; each number must
    be the one auc_or_none gives that resample, bit for bit, NaN where it
    gives None (one class), or a gate's p-value could move."""
    from bot.model.metrics import resampled_aucs

    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 400))
    label = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(float)
    score = np.round(rng.random(n) + 0.3 * label, int(rng.integers(1, 4)))
    draws, length = int(rng.integers(1, 40)), int(rng.integers(1, 2 * n))
    indexes = rng.integers(0, n, size=(draws, length))
    got = resampled_aucs(score, label, indexes)
    for row, value in zip(indexes, got, strict=True):
        expected = auc_or_none(score[row], label[row])
        if expected is None:
            assert np.isnan(value)
        else:
            assert value == expected
