"""Tests for bot.report.model_quality: hand-worked cases, agreement with
scipy / scikit-learn where they have the metric, and properties."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss

from bot.report.metrics import probabilistic_sharpe_ratio
from bot.report.model_quality import (
    EULER_GAMMA,
    calibration_by_version,
    confident_buckets,
    deflated_sharpe_ratio,
    holding_periods,
    information_coefficients,
    random_entry_test,
)

NAN = float("nan")
HOUR_MS = 3_600_000


# -- information_coefficients ---------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ic_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    edge = rng.normal(size=200)
    realized = 0.3 * edge + rng.normal(size=200)
    got = information_coefficients(edge, realized)
    assert got["n"] == 200
    assert got["ic"] == pytest.approx(stats.pearsonr(edge, realized)[0], abs=1e-12)
    assert got["rank_ic"] == pytest.approx(stats.spearmanr(edge, realized)[0], abs=1e-12)


def test_rank_ic_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    edge = rng.integers(0, 5, size=100).astype(float)  # many ties
    realized = np.round(edge + rng.normal(size=100), 1)
    got = information_coefficients(edge, realized)
    assert got["rank_ic"] == pytest.approx(stats.spearmanr(edge, realized)[0], abs=1e-12)


def test_ic_drops_nan_rows() -> None:
    edge = np.array([1.0, 2.0, NAN, 4.0, 5.0, 3.0])
    realized = np.array([1.5, 1.0, 7.0, 4.0, NAN, 3.5])
    got = information_coefficients(edge, realized)
    keep = [0, 1, 3, 5]
    assert got["n"] == 4
    assert got["ic"] == pytest.approx(stats.pearsonr(edge[keep], realized[keep])[0], abs=1e-12)
    assert got["rank_ic"] == pytest.approx(stats.spearmanr(edge[keep], realized[keep])[0], abs=1e-12)


def test_rank_ic_is_one_for_a_monotone_but_nonlinear_relation() -> None:
    edge = np.linspace(0.1, 3.0, 30)
    got = information_coefficients(edge, np.exp(3 * edge))
    assert got["rank_ic"] == pytest.approx(1.0)
    assert got["ic"] < 0.95


@pytest.mark.parametrize("edge, realized", [
    ([1.0, 1.0, 1.0, 1.0], [0.1, -0.2, 0.3, 0.0]),  # constant edge
    ([0.1, -0.2, 0.3, 0.0], [2.0, 2.0, 2.0, 2.0]),  # constant realized
    ([0.1, 0.2], [0.3, 0.1]),  # too few rows
    ([0.1, 0.2, NAN, 0.4], [0.3, 0.1, 0.2, NAN]),  # too few rows once NaN rows go
    ([], []),
])
def test_ic_is_none_when_undefined(edge: list, realized: list) -> None:
    got = information_coefficients(np.array(edge), np.array(realized))
    assert got["ic"] is None and got["rank_ic"] is None
    assert got["n"] == sum(not (math.isnan(a) or math.isnan(b)) for a, b in zip(edge, realized))


# -- confident_buckets ------------------------------------------------------------

def _bucket_fixture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # index: prob, label, realized           confidence, call
    rows = [
        (0.60, 1, 0.01),     # 0: 0.10, long
        (0.75, 0, -0.02),    # 1: 0.25, long  (wrong, loses 0.02)
        (0.10, 0, -0.03),    # 2: 0.40, short (right, earns 0.03)
        (0.25, 0, 0.0),      # 3: 0.25, short (right, flat: a miss)
        (0.50, 1, 0.01),     # 4: 0.00, long
        (0.55, 1, 0.02),     # 5: 0.05, long
        (0.35, 1, 0.02),     # 6: 0.15, short (wrong, loses 0.02)
        (0.30, 1, NAN),      # 7: 0.20, short (wrong, realized unknown)
        (0.52, 0, -0.01),    # 8: 0.02, long
        (0.45, 0, 0.005),    # 9: 0.05, short
        (NAN, 1, 0.5),       # dropped: no prob
        (0.99, NAN, 0.5),    # dropped: no label (it would be the most confident)
    ]
    prob, label, realized = (np.array(col, dtype=float) for col in zip(*rows))
    return prob, label, realized


def test_confident_buckets_by_hand() -> None:
    got = confident_buckets(*_bucket_fixture(), shares=(0.1, 0.2, 0.5))
    # 10 rows; by confidence: 2, then 1 and 3 tied at 0.25 (1 first, stable),
    # then 7, 6. Top 1 = [2], top 2 = [2, 1], top 5 = [2, 1, 3, 7, 6].
    assert got["n_decile"] == 1
    assert got["accuracy_decile"] == 1.0
    assert got["hit_rate_decile"] == 1.0
    assert got["mean_realized_decile"] == pytest.approx(0.03)

    assert got["n_quintile"] == 2
    assert got["accuracy_quintile"] == 0.5  # 2 right, 1 wrong; with 3 before 1 it would be 1.0
    assert got["hit_rate_quintile"] == 0.5
    assert got["mean_realized_quintile"] == pytest.approx((0.03 - 0.02) / 2)

    assert got["n_half"] == 5
    assert got["accuracy_half"] == pytest.approx(2 / 5)  # 2 and 3 right
    assert got["hit_rate_half"] == pytest.approx(1 / 4)  # of 2, 1, 3, 6 (7 unknown): only 2
    assert got["mean_realized_half"] == pytest.approx((0.03 - 0.02 + 0.0 - 0.02) / 4)


def test_confident_buckets_default_keys() -> None:
    got = confident_buckets(*_bucket_fixture())
    assert set(got) == {f"{key}_{suffix}" for key in ("accuracy", "hit_rate", "mean_realized", "n")
                        for suffix in ("decile", "quintile")}


def test_confident_buckets_round_up_the_count() -> None:
    rng = np.random.default_rng(4)
    prob = rng.uniform(size=31)
    got = confident_buckets(prob, (prob > 0.5).astype(float), np.zeros(31))
    assert got["n_decile"] == 4 and got["n_quintile"] == 7  # ceil(3.1), ceil(6.2)
    assert got["accuracy_decile"] == 1.0  # labels agree with every call
    assert got["hit_rate_decile"] == 0.0  # a zero return is never a hit
    # 0.07 * 100 is 7.000000000000001 in floats: still 7 rows
    prob = rng.uniform(size=100)
    got = confident_buckets(prob, np.ones(100), np.zeros(100), shares=(0.07,))
    assert got["n_top7pct"] == 7


def test_confident_buckets_are_symmetric_in_long_and_short() -> None:
    """Mirroring every probability, label and return leaves the scores alone."""
    rng = np.random.default_rng(5)
    prob = rng.uniform(size=500)
    label = (rng.uniform(size=500) < prob).astype(float)
    realized = rng.normal(size=500) * 0.01 + (label - 0.5) * 0.01
    got = confident_buckets(prob, label, realized)
    mirrored = confident_buckets(1.0 - prob, 1.0 - label, -realized)
    assert got == pytest.approx(mirrored)
    assert got["accuracy_decile"] > 0.7  # the labels follow the probabilities
    assert got["mean_realized_decile"] > 0.0


def test_confident_buckets_without_realized_returns() -> None:
    got = confident_buckets(np.array([0.9, 0.1]), np.array([1.0, 1.0]), np.array([NAN, NAN]))
    assert got["n_decile"] == 1 and got["accuracy_decile"] == 1.0
    assert got["hit_rate_decile"] is None and got["mean_realized_decile"] is None


def test_confident_buckets_empty() -> None:
    got = confident_buckets(np.array([NAN]), np.array([1.0]), np.array([0.1]))
    assert got["n_decile"] == 0 and got["n_quintile"] == 0
    assert all(value is None for key, value in got.items() if not key.startswith("n_"))


def test_confident_buckets_reject_bad_labels() -> None:
    with pytest.raises(ValueError):
        confident_buckets(np.array([0.9]), np.array([2.0]), np.array([0.1]))


# -- calibration_by_version --------------------------------------------------------

def test_calibration_by_hand() -> None:
    frame = pd.DataFrame({"model_version": ["a"] * 4, "prob_up": [0.2, 0.4, 0.6, 1.0],
                          "outcome": [0.0, 1.0, 1.0, 1.0]})
    (row,) = calibration_by_version(frame, bins=2)
    assert row["version"] == "a" and row["n"] == 4
    assert row["mean_prob"] == pytest.approx(0.55)
    assert row["observed_rate"] == pytest.approx(0.75)
    assert row["brier"] == pytest.approx((0.04 + 0.36 + 0.16 + 0.0) / 4)
    assert row["brier"] == pytest.approx(brier_score_loss(frame.outcome, frame.prob_up))
    # bin [0, .5): mean .3, rate .5; bin [.5, 1]: mean .8, rate 1.0 (1.0 is in it)
    assert row["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.2)


def test_calibration_bin_edges() -> None:
    frame = pd.DataFrame({"model_version": ["a"] * 4, "prob_up": [0.3, 0.39, 1.0, 0.95],
                          "outcome": [1.0, 0.0, 1.0, 0.0]})
    (row,) = calibration_by_version(frame)
    # 0.3 and 0.39 share bin [0.3, 0.4); 1.0 and 0.95 the last bin [0.9, 1.0]
    assert row["ece"] == pytest.approx(0.5 * abs(0.345 - 0.5) + 0.5 * abs(0.975 - 0.5))


def test_calibration_tells_calibrated_from_overconfident() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    true_prob = rng.uniform(size=n)
    outcome = (rng.uniform(size=n) < true_prob).astype(float)
    overconfident = np.clip(0.5 + 1.8 * (true_prob - 0.5), 0.0, 1.0)
    frame = pd.DataFrame({
        "model_version": ["honest"] * n + ["bold"] * n,
        "prob_up": np.concatenate([true_prob, overconfident]),
        "outcome": np.concatenate([outcome, outcome]),
    })
    honest, bold = calibration_by_version(frame)
    assert (honest["version"], bold["version"]) == ("honest", "bold")
    assert honest["ece"] < 0.02
    assert bold["ece"] > 0.08  # about E|q - p| = 0.111 for this distortion
    assert bold["ece"] > 5 * honest["ece"]
    assert bold["brier"] > honest["brier"]
    assert honest["brier"] == pytest.approx(brier_score_loss(outcome, true_prob))


def test_calibration_versions_in_order_of_appearance() -> None:
    frame = pd.DataFrame({
        "model_version": ["v2", "v1", "v0", "v2", "v1", "v3"],
        "prob_up": [0.7, 0.4, 0.5, 0.8, NAN, 0.6],
        "outcome": [1.0, 0.0, NAN, NAN, 1.0, 1.0],
    })
    rows = calibration_by_version(frame)
    # v0 has no scored row; v1's second row has no prob; v2's second no outcome
    assert [row["version"] for row in rows] == ["v2", "v1", "v3"]
    assert [row["n"] for row in rows] == [1, 1, 1]
    assert rows[0]["brier"] == pytest.approx(0.09)
    assert rows[1]["ece"] == pytest.approx(0.4)
    assert calibration_by_version(frame.iloc[2:3]) == []


def test_calibration_rejects_bad_input() -> None:
    frame = pd.DataFrame({"model_version": ["a"], "prob_up": [0.5], "outcome": [2.0]})
    with pytest.raises(ValueError):
        calibration_by_version(frame)
    with pytest.raises(ValueError):
        calibration_by_version(frame.assign(outcome=1.0), bins=0)


# -- random_entry_test --------------------------------------------------------------

def _random_walk(n: int, seed: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(0.0, 0.01, size=n))


def test_random_entry_test_by_hand() -> None:
    log_close = np.array([0.0, 1.0, 3.0, 2.0])
    # 0 -> 2: +3; 2 held 5 bars is cut at the last bar: 2 - 3 = -1
    got = random_entry_test(log_close, np.array([0, 2]), np.array([2, 5]), draws=2000, seed=1)
    assert got["strategy_log_return"] == pytest.approx(2.0)
    assert got["trades"] == 2 and got["draws"] == 2000
    # Draws: a 2-bar trade from bar 0 (+3) or 1 (+1); the cut 3-bar one from 0 (+2).
    # Every draw sums 5 or 3, so beats 2: p = 1.
    assert got["p_value"] == 1.0
    assert got["random_mean"] == pytest.approx(4.0, abs=0.1)
    assert got["random_std"] == pytest.approx(1.0, abs=0.05)


def test_random_entry_test_counts_ties_as_at_least() -> None:
    log_close = np.arange(50, dtype=float)  # every k-bar trade earns exactly k
    got = random_entry_test(log_close, np.array([3, 10, 20]), np.array([1, 4, 7]), draws=200)
    assert got["strategy_log_return"] == 12.0
    assert got["p_value"] == 1.0
    assert got["random_std"] == 0.0


def test_random_entry_test_finds_perfect_timing() -> None:
    log_close = _random_walk(500, seed=7)
    rises = np.diff(log_close)
    entries = np.argsort(-rises, kind="stable")[:20]  # the bars before the 20 largest rises
    got = random_entry_test(log_close, entries, np.ones(20, dtype=int), draws=1000, seed=0)
    assert got["p_value"] < 0.01
    assert got["p_value"] == pytest.approx(1 / 1001)
    assert got["strategy_log_return"] > got["random_mean"] + 5 * got["random_std"]


def test_random_entry_test_does_not_flag_random_timing() -> None:
    log_close = _random_walk(500, seed=8)
    rng = np.random.default_rng(9)
    holds = rng.integers(1, 10, size=20)
    entries = rng.integers(0, 500 - holds)
    got = random_entry_test(log_close, entries, holds, draws=1000, seed=0)
    assert got["p_value"] > 0.05
    assert 0.0 < got["p_value"] <= 1.0


def test_random_entry_test_draws_have_the_right_mean() -> None:
    """The mean of a draw is the sum over trades of the mean k-bar return over
    all admissible starts; checks the start range and the vectorised sums."""
    log_close = _random_walk(100, seed=10)
    holds = np.array([1, 5, 5, 30])
    expected = sum(np.mean(log_close[k:] - log_close[:-k]) for k in holds)
    got = random_entry_test(log_close, np.array([0, 10, 20, 40]), holds, draws=4000, seed=2)
    assert got["random_mean"] == pytest.approx(expected, abs=4 * got["random_std"] / math.sqrt(4000))


def test_random_entry_test_is_deterministic() -> None:
    log_close = _random_walk(300, seed=11)
    args = (log_close, np.array([5, 50, 100]), np.array([3, 10, 2]))
    first = random_entry_test(*args, draws=500, seed=3)
    assert random_entry_test(*args, draws=500, seed=3) == first
    assert random_entry_test(*args, draws=500, seed=4)["random_mean"] != first["random_mean"]


def test_random_entry_test_without_trades() -> None:
    got = random_entry_test(_random_walk(50, seed=12), np.array([], dtype=int), np.array([], dtype=int))
    assert got["p_value"] is None and got["strategy_log_return"] == 0.0 and got["trades"] == 0


@pytest.mark.parametrize("entries, holds", [([0], [0]), ([10], [1]), ([-1], [1]), ([0, 1], [1])])
def test_random_entry_test_rejects_bad_trades(entries: list, holds: list) -> None:
    with pytest.raises(ValueError):
        random_entry_test(np.zeros(10), np.array(entries), np.array(holds))


# -- deflated_sharpe_ratio ------------------------------------------------------------

def _psr(returns: np.ndarray, benchmark: float) -> float:
    """PSR written out: population moments, SR with ddof=1."""
    n = len(returns)
    mean = sum(returns) / n
    sr = mean / math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    m2, m3, m4 = (sum((r - mean) ** k for r in returns) / n for k in (2, 3, 4))
    skew, kurt = m3 / m2**1.5, m4 / m2**2
    z = (sr - benchmark) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return NormalDist().cdf(z)


def _returns(seed: int, n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(5, size=n) * 0.01 + 0.002  # fat-tailed, a small edge


def test_dsr_with_one_trial_is_the_psr() -> None:
    returns = _returns(13)
    trials = np.random.default_rng(14).normal(0.0, 0.05, size=20)
    got = deflated_sharpe_ratio(returns, trials, n_trials=1)
    assert got["sr0_per_bar"] == 0.0 and got["n_trials"] == 1
    assert got["sharpe_per_bar"] == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert got["dsr"] == pytest.approx(_psr(returns, 0.0), rel=1e-9)
    equity = 100.0 * np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    assert got["dsr"] == pytest.approx(probabilistic_sharpe_ratio(equity), rel=1e-6)


def test_dsr_expected_max_sharpe_by_formula() -> None:
    returns = _returns(15)
    trials = np.array([-0.1, 0.0, 0.1])  # variance 0.01 (ddof=1)
    normal = NormalDist()
    for n_trials in (2, 10, 1000):
        sr0 = 0.1 * ((1 - EULER_GAMMA) * normal.inv_cdf(1 - 1 / n_trials)
                     + EULER_GAMMA * normal.inv_cdf(1 - 1 / (n_trials * math.e)))
        got = deflated_sharpe_ratio(returns, trials, n_trials)
        assert got["sr0_per_bar"] == pytest.approx(sr0, rel=1e-9)
        assert got["dsr"] == pytest.approx(_psr(returns, sr0), rel=1e-9)


def test_dsr_falls_as_more_trials_are_made() -> None:
    returns = _returns(16)
    trials = np.random.default_rng(17).normal(0.0, 0.03, size=50)
    values = [deflated_sharpe_ratio(returns, trials, n)["dsr"] for n in (1, 2, 10, 100, 10_000)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[0] > 0.9  # the edge is real ...
    assert values[-1] < values[0] - 0.2  # ... but many trials discount it


def test_dsr_with_too_few_or_equal_listed_trials_deflates_by_the_chance_spread_of_a_sharpe() -> None:
    """One variant with `--trials 20` (or variants with equal Sharpes)
    deflated nothing: the DSR shown was the PSR whatever --trials said. The
    spread is then what a worthless Sharpe of T returns has by chance,
    1 / sqrt(T - 1)."""
    returns = _returns(18)
    normal = NormalDist()
    for listed in (np.array([0.05]), np.array([0.05, NAN]), np.array([0.05, 0.05, 0.05])):
        for n_trials in (2, 20, 10**12):
            expected = (1 / math.sqrt(len(returns) - 1)) * (
                (1 - EULER_GAMMA) * normal.inv_cdf(1 - 1 / n_trials)
                + EULER_GAMMA * normal.inv_cdf(1 - 1 / (n_trials * math.e))
            )
            got = deflated_sharpe_ratio(returns, listed, n_trials)
            assert got["sr0_per_bar"] == pytest.approx(expected, rel=1e-9)
            assert got["dsr"] < deflated_sharpe_ratio(returns, listed, 1)["dsr"]


@pytest.mark.parametrize("returns", [[0.01, -0.01], [0.01, 0.01, 0.01, 0.01], [0.01, NAN, 0.02]])
def test_dsr_is_none_when_undefined(returns: list) -> None:
    got = deflated_sharpe_ratio(np.array(returns), np.array([0.1, 0.2, 0.3]), 5)
    assert got["dsr"] is None and got["sharpe_per_bar"] is None
    assert got["sr0_per_bar"] is not None


def test_dsr_rejects_zero_trials() -> None:
    with pytest.raises(ValueError):
        deflated_sharpe_ratio(_returns(19), np.array([0.1, 0.2]), 0)


# -- holding_periods ---------------------------------------------------------------

def _fills(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "ts", "symbol", "side", "qty", "realized_pnl"])


def test_holding_periods_by_hand() -> None:
    t0 = 1_700_000_000_000
    index_ts = t0 + HOUR_MS * np.arange(24)
    h = HOUR_MS
    fills = _fills(
        (1, t0 - 2 * h, "BTC", "buy", 1.0, 0.0),  # entered before the period: dropped
        (2, t0 + 1 * h, "BTC", "sell", 1.0, 5.0),
        (3, t0 + 2 * h, "BTC", "buy", 1.0, 0.0),  # bar 2, 3 bars
        (4, t0 + 5 * h, "BTC", "sell", 2.0, 1.0),  # flips short at bar 5 ...
        (5, t0 + 9 * h, "BTC", "buy", 1.0, 1.0),  # ... closed at bar 9: 4 bars
        (6, t0 + 11 * h, "BTC", "buy", 1.0, 0.0),  # still open: dropped
        (7, t0 + 1 * h, "ETH", "sell", 2.0, 0.0),  # short at bar 1 ...
        (8, t0 + 1 * h + 600_000, "ETH", "buy", 2.0, 1.0),  # ... out 10 minutes later: 1 bar
        (9, t0 + 3 * h + 1_800_000, "ETH", "buy", 1.0, 0.0),  # mid-bar: bar 3
        (10, t0 + 6 * h, "ETH", "sell", 1.0, 1.0),  # 2.5 bars: rounds to 2 (half to even)
    )
    entries, holds = holding_periods(fills, HOUR_MS, index_ts)
    assert entries.tolist() == [2, 5, 1, 3]
    assert holds.tolist() == [3, 4, 1, 2]
    assert entries.dtype.kind == "i" and holds.dtype.kind == "i"


def test_holding_periods_without_fills() -> None:
    index_ts = np.arange(10) * HOUR_MS
    entries, holds = holding_periods(_fills(), HOUR_MS, index_ts)
    assert len(entries) == 0 and len(holds) == 0


def test_holding_periods_feed_the_random_entry_test() -> None:
    t0 = 0
    index_ts = t0 + HOUR_MS * np.arange(200)
    log_close = _random_walk(200, seed=20)
    fills = _fills(
        (1, 10 * HOUR_MS, "BTC", "buy", 1.0, 0.0),
        (2, 15 * HOUR_MS, "BTC", "sell", 1.0, 0.0),
        (3, 100 * HOUR_MS, "BTC", "buy", 1.0, 0.0),
        (4, 103 * HOUR_MS, "BTC", "sell", 1.0, 0.0),
    )
    entries, holds = holding_periods(fills, HOUR_MS, index_ts)
    got = random_entry_test(log_close, entries, holds, draws=100)
    expected = (log_close[15] - log_close[10]) + (log_close[103] - log_close[100])
    assert got["strategy_log_return"] == pytest.approx(expected)
    assert got["trades"] == 2


def test_confident_buckets_count_a_coin_flip_as_long() -> None:
    got = confident_buckets(np.array([0.5]), np.array([1.0]), np.array([0.01]))
    assert got["accuracy_decile"] == 1.0 and got["hit_rate_decile"] == 1.0
    assert got["mean_realized_decile"] == pytest.approx(0.01)


def test_a_hit_rate_equal_to_accuracy_is_explained_in_the_quality_table() -> None:
    """Under the horizon target the label is the realized return's sign, so
    the two columns are the same numbers: the table says why, instead of
    leaving two equal columns to look like a bug."""
    from types import SimpleNamespace

    from bot.backtest.model_report import hit_rate_is_accuracy
    from bot.cli.backtest import quality_table

    same = {"ic": 0.1, "accuracy_decile": 0.6, "hit_rate_decile": 0.6, "accuracy_quintile": 0.55,
            "hit_rate_quintile": 0.55}
    apart = {**same, "hit_rate_decile": 0.58}
    assert hit_rate_is_accuracy([same, same])
    assert not hit_rate_is_accuracy([same, apart]) and not hit_rate_is_accuracy([{}])

    def table(*metrics: dict):
        variants = {f"v{i}": SimpleNamespace(metrics=m) for i, m in enumerate(metrics)}
        return quality_table(SimpleNamespace(variants=lambda: variants))

    assert "horizon target" in str(table(same, same).caption)
    assert table(same, apart).caption is None


def test_annualised_figures_of_a_short_window_come_with_its_span() -> None:
    from bot.backtest.short_window import short_window_note

    week = short_window_note(168, "1h", 3)
    assert week is not None and week.startswith("A short window: 7.0 days (168 traded bars, 3 round trips)")
    assert short_window_note(24 * 90, "1h", 3) is None  # a quarter of a year: no note
    assert short_window_note(24 * 89, "1h", None) is not None and short_window_note(12 * 24 * 10, "5m", 0)
    assert short_window_note(0, "1h", 0) is None and short_window_note(100, None, 0) is None
    # 2,000 bars across 125 days (a 41-day hole): not a short window, though the bars alone span 83 days.
    hour = 3_600_000
    assert short_window_note(2_000, "1h", 0, span_ms=(125 * 24 - 1) * hour) is None
    holed = short_window_note(1_000, "1h", 2, span_ms=(60 * 24 - 1) * hour)
    assert holed is not None and holed.startswith(
        "A short window: 60.0 days (1,000 traded bars, 440 bars missing from the data, 2 round trips)"), holed
