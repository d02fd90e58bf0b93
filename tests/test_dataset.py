"""Tests for bot.model.dataset.build_training_set: causal windows, labels, the
time-ordered split and a scaler fitted on training rows only.

The synthetic series has vectors[t] = (t, 1000 - 3t), so un-scaling a window
tells exactly which rows it holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.model.dataset import SymbolSeries, build_training_set

HOUR = 3_600_000
SEQ_LEN = 4
VAL_FRACTION = 0.2
T = 40
# By hand for T=40, seq_len=4: windows end at rows 3..38 (row 39 has no next
# close) -> 36 windows; int(36 * 0.2) = 7 validation windows; an embargo of
# 2 * seq_len + 1 = 9 windows leaves 36 - 7 - 9 = 20 training windows, so
# the last training label reads row 23 and validation starts at row 29:
# rows 24..28 (seq_len + 1 of them) are used by neither.
N_TRAIN, N_VAL = 20, 7
TRAIN_ENDS = list(range(3, 3 + N_TRAIN))  # 3..22
VAL_ENDS = list(range(32, 39))  # 32..38: the newest seven windows


def series(n: int = T, start_ts: int = 1_000 * HOUR) -> SymbolSeries:
    t = np.arange(n, dtype=float)
    close = 100.0 + 5.0 * np.sin(1.3 * t) + 0.01 * t  # goes both up and down
    return SymbolSeries(ts=start_ts + np.arange(n) * HOUR, close=close,
                        vectors=np.column_stack([t, 1000.0 - 3.0 * t]))


def rows_of(windows: np.ndarray, scaler) -> np.ndarray:
    """The row numbers each window holds, recovered by un-scaling feature 0."""
    raw = windows.astype(np.float64) * scaler.std + scaler.mean
    rows = np.rint(raw[..., 0])
    np.testing.assert_allclose(raw[..., 0], rows, atol=1e-3)
    np.testing.assert_allclose(raw[..., 1], 1000.0 - 3.0 * rows, atol=1e-2)
    return rows.astype(int)


@pytest.fixture(scope="module")
def built():
    s = series()
    ts = build_training_set([s], SEQ_LEN, VAL_FRACTION)
    assert ts is not None
    return s, ts


def test_split_sizes_and_shapes(built) -> None:
    _, ts = built
    assert ts.x_train.shape == (N_TRAIN, SEQ_LEN, 2)
    assert ts.x_val.shape == (N_VAL, SEQ_LEN, 2)
    assert ts.y_train.shape == (N_TRAIN,) and ts.y_val.shape == (N_VAL,)


def test_each_window_holds_the_rows_up_to_its_end(built) -> None:
    _, ts = built
    for windows, ends in ((ts.x_train, TRAIN_ENDS), (ts.x_val, VAL_ENDS)):
        rows = rows_of(windows, ts.scaler)
        expected = np.array([list(range(end - SEQ_LEN + 1, end + 1)) for end in ends])
        np.testing.assert_array_equal(rows, expected)


def test_label_is_whether_the_next_close_is_higher(built) -> None:
    s, ts = built
    close = s.close.tolist()
    for y, ends in ((ts.y_train, TRAIN_ENDS), (ts.y_val, VAL_ENDS)):
        expected = [1.0 if close[end + 1] > close[end] else 0.0 for end in ends]
        assert y.tolist() == expected
    assert 0 < ts.y_train.sum() < N_TRAIN  # both classes occur, so a wrong label shows


def test_newest_row_is_never_a_window_end(built) -> None:
    _, ts = built
    all_rows = np.concatenate([rows_of(ts.x_train, ts.scaler), rows_of(ts.x_val, ts.scaler)])
    assert all_rows.max() == T - 2  # the last window ends one row before the newest
    assert not (all_rows == T - 1).any()


def test_validation_windows_are_newer_than_training_windows_and_labels(built) -> None:
    _, ts = built
    train_rows = rows_of(ts.x_train, ts.scaler)
    val_rows = rows_of(ts.x_val, ts.scaler)
    last_train_label_row = train_rows[:, -1].max() + 1  # the close the last training label reads
    assert val_rows.min() > train_rows.max()
    assert val_rows.min() - last_train_label_row - 1 >= SEQ_LEN + 1  # the embargo, in rows
    # Windows come oldest first in both sets.
    assert (np.diff(train_rows[:, -1]) == 1).all() and (np.diff(val_rows[:, -1]) == 1).all()


def test_scaler_is_fitted_on_the_rows_of_training_windows(built) -> None:
    _, ts = built
    rows = np.arange(0, TRAIN_ENDS[-1] + 1, dtype=float)  # rows 0..22
    assert ts.scaler.mean == pytest.approx([rows.mean(), 1000.0 - 3.0 * rows.mean()])  # 11, 967
    population_std = math.sqrt((23 ** 2 - 1) / 12)  # of 23 consecutive integers
    assert ts.scaler.std == pytest.approx([population_std, 3.0 * population_std])


def test_scaler_ignores_validation_and_embargo_rows(built) -> None:
    """Rows after the last training window (label row, embargo, validation)
    turned absurd must leave the scaler exactly as it was."""
    s, ts = built
    vectors = s.vectors.copy()
    vectors[TRAIN_ENDS[-1] + 1:] = 1e12
    changed = build_training_set([SymbolSeries(s.ts, s.close, vectors)], SEQ_LEN, VAL_FRACTION)
    np.testing.assert_array_equal(changed.scaler.mean, ts.scaler.mean)
    np.testing.assert_array_equal(changed.scaler.std, ts.scaler.std)
    np.testing.assert_array_equal(changed.x_train, ts.x_train)


def test_scaler_does_see_the_last_training_row(built) -> None:
    """The counterpart: changing the newest row of the last training window moves the scaler."""
    s, ts = built
    vectors = s.vectors.copy()
    vectors[TRAIN_ENDS[-1]] = 1e6
    changed = build_training_set([SymbolSeries(s.ts, s.close, vectors)], SEQ_LEN, VAL_FRACTION)
    assert not np.array_equal(changed.scaler.mean, ts.scaler.mean)


def test_time_range_covers_the_whole_series(built) -> None:
    s, ts = built
    assert (ts.from_ts, ts.to_ts) == (int(s.ts[0]), int(s.ts[-1]))


def test_smallest_history_that_splits() -> None:
    # T=16: 12 windows; int(12 * 0.2) = 2 validation windows; 12 - 2 - 9 = 1 training window.
    ts = build_training_set([series(16)], SEQ_LEN, VAL_FRACTION)
    assert ts is not None
    assert len(ts.x_train) == 1 and len(ts.x_val) == 2
    np.testing.assert_array_equal(rows_of(ts.x_train, ts.scaler), [[0, 1, 2, 3]])
    # Validation rows 10..14 lie beyond the clip of a scaler fitted on rows
    # 0..3, so they cannot be un-scaled; their labels still identify them.
    close = series(16).close
    assert ts.y_val.tolist() == [float(close[e + 1] > close[e]) for e in (13, 14)]


@pytest.mark.parametrize("n", [0, 3, 4, 5, 10, 15])
def test_none_when_history_is_too_short(n: int) -> None:
    # T=15: 11 windows; int(11 * 0.2) = 2 validation windows; 11 - 2 - 9 = 0 training windows.
    assert build_training_set([series(n)], SEQ_LEN, VAL_FRACTION) is None


def test_none_for_no_series() -> None:
    assert build_training_set([], SEQ_LEN, VAL_FRACTION) is None


def test_too_short_series_is_left_out_of_a_multi_symbol_set() -> None:
    long, short = series(T), series(8, start_ts=0)
    ts = build_training_set([long, short], SEQ_LEN, VAL_FRACTION)
    assert ts.x_train.shape[0] == N_TRAIN and ts.x_val.shape[0] == N_VAL
    assert ts.from_ts == int(long.ts[0])  # the short series' older ts is not counted
