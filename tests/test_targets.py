"""Targets: what a label means, bar by bar, and that the batch labels used
for training equal the streaming outcomes used for live scoring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import ConfigError, ModelConfig
from bot.model.dataset import SymbolSeries, build_training_set
from bot.model.targets import OutcomeTracker, Target

HOUR = 3_600_000


def barrier(h: int = 3, tp: float = 0.02, sl: float = 0.01) -> Target:
    return Target("triple_barrier", horizon_bars=h, take_profit=tp, stop_loss=sl)


def bars(rows: list[tuple[float, float, float, float]]) -> tuple[np.ndarray, ...]:
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


# -- horizon -------------------------------------------------------------------


def test_horizon_label_is_the_sign_of_the_return_over_h_bars() -> None:
    close = np.array([100, 101, 99, 102, 102, 98.0])
    label, realized = Target("horizon", horizon_bars=2).outcomes(close, close, close, close)
    np.testing.assert_array_equal(label[:4], [0, 1, 1, 0])  # 99<100, 102>101, 102>99, 98<102
    np.testing.assert_allclose(realized[:4], [99 / 100 - 1, 102 / 101 - 1, 102 / 99 - 1, 98 / 102 - 1])
    assert np.isnan(label[4:]).all() and np.isnan(realized[4:]).all()  # their horizon is past the data


def test_one_bar_horizon_is_the_old_direction_label() -> None:
    close = np.array([1.0, 2, 1, 1, 3])
    label, _ = Target().outcomes(close, close, close, close)
    np.testing.assert_array_equal(label[:-1], [1, 0, 0, 1])


# -- triple barrier ------------------------------------------------------------


def test_take_profit_first() -> None:
    # bar 0 decides; entry at bar 1's open (100); tp 102, sl 99
    o, h, l, c = bars([(90, 90, 90, 90), (100, 101, 99.5, 100.5), (100.5, 102.5, 100, 102), (102, 103, 101, 102)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 1 and realized[0] == pytest.approx(0.02)


def test_stop_first_and_a_bar_that_reaches_both_counts_as_the_stop() -> None:
    o, h, l, c = bars([(90, 90, 90, 90), (100, 103, 98, 100), (100, 100, 100, 100), (100, 100, 100, 100)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 0 and realized[0] == pytest.approx(-0.01)


def test_a_gap_through_the_stop_exits_at_the_open() -> None:
    o, h, l, c = bars([(90, 90, 90, 90), (100, 100.5, 99.5, 100), (97, 97.5, 96, 97), (97, 97, 97, 97)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 0 and realized[0] == pytest.approx(-0.03)


def test_a_gap_through_the_take_profit_exits_at_the_better_open() -> None:
    o, h, l, c = bars([(90, 90, 90, 90), (100, 100.5, 99.5, 100), (105, 106, 104, 105), (105, 105, 105, 105)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 1 and realized[0] == pytest.approx(0.05)


def test_time_limit_exits_at_the_last_close_with_label_0() -> None:
    o, h, l, c = bars([(90, 90, 90, 90), (100, 101, 99.5, 100), (100, 101, 99.5, 101), (101, 101.5, 100, 101.5)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 0 and realized[0] == pytest.approx(0.015)


def test_a_barrier_is_never_read_past_the_horizon() -> None:
    # The take-profit is reached on bar 4, one bar past the 3-bar limit.
    o, h, l, c = bars([(90, 90, 90, 90), (100, 101, 99.5, 100), (100, 101, 99.5, 100), (100, 101, 99.5, 100),
                       (100, 110, 100, 110)])
    label, realized = barrier().outcomes(o, h, l, c)
    assert label[0] == 0 and realized[0] == pytest.approx(0.0)
    changed = h.copy()
    changed[4] = 200.0
    assert barrier().outcomes(o, changed, l, c)[0][0] == label[0]


# -- batch and streaming agree ---------------------------------------------------------


def random_bars(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    return open_, high, low, close


def streamed(target: Target, o, h, l, c) -> tuple[np.ndarray, np.ndarray]:
    tracker = OutcomeTracker(target)
    label, realized = np.full(len(c), np.nan), np.full(len(c), np.nan)
    for i in range(len(c)):
        for r in tracker.settle("X", i * HOUR, o[i], h[i], l[i], c[i]):
            label[r.ts // HOUR], realized[r.ts // HOUR] = r.label, r.realized
        tracker.expect("X", i * HOUR, "v", 0.5, c[i])
    return label, realized


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 12), tp=st.floats(0.002, 0.05), sl=st.floats(0.002, 0.05),
       kind=st.sampled_from(["horizon", "triple_barrier"]))
def test_streaming_outcomes_equal_the_training_labels(seed, h, tp, sl, kind) -> None:
    target = Target(kind, horizon_bars=h, take_profit=tp if kind != "horizon" else None,
                    stop_loss=sl if kind != "horizon" else None)
    o, hi, lo, c = random_bars(seed, 120)
    batch_label, batch_realized = target.outcomes(o, hi, lo, c)
    live_label, live_realized = streamed(target, o, hi, lo, c)
    known = ~np.isnan(batch_label)
    assert known.sum() == len(c) - h
    np.testing.assert_array_equal(live_label[known], batch_label[known])
    np.testing.assert_allclose(live_realized[known], batch_realized[known], rtol=1e-12)


class WalkEveryPrediction:
    """The tracker's rules written the plain way: every open prediction
    counts every bar after its own and is checked on each. The tracker's
    shortcut (only the oldest few, under the horizon target) must agree."""

    def __init__(self, target: Target) -> None:
        self.target, self.pending = target, {}

    def expect(self, symbol, ts, version, prob, close) -> None:
        self.pending.setdefault(symbol, []).append([ts, prob, close, 0])

    def settle(self, symbol, ts, o, h, l, c) -> list[tuple]:
        out, still = [], []
        for p in self.pending.get(symbol, []):
            if ts > p[0]:
                p[3] += 1
                if p[3] >= self.target.horizon_bars:
                    out.append((symbol, p[0], p[1], int(c > p[2]), c / p[2] - 1.0))
                    continue
            still.append(p)
        self.pending[symbol] = still
        return out


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 8), shuffled=st.booleans())
def test_the_trackers_shortcut_equals_walking_every_prediction(seed, h, shuffled) -> None:
    """Two symbols, predictions expected in bar order (as the engine does)
    or now and then out of it, and bars replayed at or before waiting
    predictions (as a restart does)."""
    rng = np.random.default_rng(seed)
    target = Target(horizon_bars=h)
    fast, plain = OutcomeTracker(target), WalkEveryPrediction(target)
    o, hi, lo, c = random_bars(seed, 80)
    for i in range(80):
        for symbol in ("A", "B"):
            ts = i * HOUR if rng.random() > 0.1 else max(i - int(rng.integers(1, 4)), 0) * HOUR  # a bar replayed
            bar = (symbol, ts, o[i], hi[i], lo[i], c[i])
            assert [(r.symbol, r.ts, r.prob, r.label, r.realized) for r in fast.settle(*bar)] == plain.settle(*bar)
            at = i if not (shuffled and rng.random() < 0.15) else max(i - int(rng.integers(1, 5)), 0)
            fast.expect(symbol, at * HOUR, "v", float(rng.random()), c[at])
            plain.expect(symbol, at * HOUR, "v", fast.pending[symbol][-1].prob, c[at])


# -- the embargo grows with the horizon ---------------------------------------------------


@pytest.mark.parametrize("h", [1, 6, 24])
@pytest.mark.parametrize("kind", ["horizon", "triple_barrier"])
def test_no_training_label_reads_a_row_the_validation_windows_hold(h: int, kind: str) -> None:
    o, hi, lo, c = random_bars(3, 900)
    ts = np.arange(900, dtype=np.int64) * HOUR
    vectors = np.random.default_rng(0).normal(size=(900, 4))
    series = SymbolSeries(ts, c, vectors, np.column_stack([o, hi, lo, c]))
    target = Target(kind, horizon_bars=h, take_profit=0.01 if kind != "horizon" else None,
                    stop_loss=0.01 if kind != "horizon" else None)
    seq_len = 10
    data = build_training_set([series], seq_len, 0.2, target=target)
    n_train = len(data.y_train)
    last_train_row_read = (n_train - 1) + seq_len - 1 + h  # window end plus the label's horizon
    first_val_row = int(np.searchsorted(ts, data.val_label_ts[0])) - h - (seq_len - 1)
    assert first_val_row - last_train_row_read - 1 == seq_len + h  # the embargo, in untouched rows
    # and the labels are the target's own
    label, _ = target.outcomes(o, hi, lo, c)
    np.testing.assert_array_equal(data.y_train, label[seq_len - 1: seq_len - 1 + n_train].astype(np.float32))


# -- config ---------------------------------------------------------------------------------


def test_old_target_names_map_to_the_horizon_target() -> None:
    assert ModelConfig(target="direction").model_dump()["target"] == "horizon"
    regression = ModelConfig(target="return")
    assert regression.target == "horizon" and not regression.is_classifier


def test_triple_barrier_without_a_take_profit_is_refused(tmp_path) -> None:
    from bot.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("model: {target: triple_barrier, horizon_bars: 12}\n")
    with pytest.raises(ConfigError, match="risk.take_profit_pct"):
        load_config(path)
