"""Tests for the backtest metrics: prediction quality against scikit-learn
called directly, trading metrics against arithmetic written out by hand."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from bot.report.metrics import (
    RoundTrip,
    cagr,
    calendar_years,
    calmar,
    exposure,
    max_drawdown,
    probabilistic_sharpe_ratio,
    profit_factor,
    round_trips,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
    trading_report,
    turnover,
    win_rate,
)
from bot.report.prediction_metrics import classification_report, regression_report

FILL_COLUMNS = ["id", "ts", "symbol", "side", "qty", "price", "fee", "realized_pnl", "order_id"]
CLASSIFICATION_KEYS = {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                       "brier", "log_loss", "n"}
TRADING_KEYS = {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate",
                "profit_factor", "trades", "exposure", "turnover", "fees_paid", "psr", "final_equity"}


def fills(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=FILL_COLUMNS)


def assert_plain_json(report: dict) -> None:
    """Only None, bool-free ints and finite floats, and json.dumps accepts it strictly."""
    for key, value in report.items():
        assert value is None or type(value) in (int, float), f"{key}: {type(value).__name__}"
        if isinstance(value, float):
            assert math.isfinite(value), f"{key} = {value}"
    json.dumps(report, allow_nan=False)


# -- classification_report against sklearn ---------------------------------------------

def sklearn_classification(prob: np.ndarray, outcome: np.ndarray) -> dict:
    """The expected report, from sklearn called directly on the known rows."""
    known = ~np.isnan(outcome)
    p, y = prob[known], outcome[known].astype(int)
    pred = (p > 0.5).astype(int)
    with warnings.catch_warnings():  # one class: "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore", UserWarning)
        balanced = skm.balanced_accuracy_score(y, pred)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": balanced,
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, p) if len(set(y)) == 2 else None,
        "brier": skm.brier_score_loss(y, p, pos_label=1),
        "log_loss": skm.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]),
        "n": len(y),
    }


def assert_matches(got: dict, expected: dict) -> None:
    assert set(got) == CLASSIFICATION_KEYS
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert_plain_json(got)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_classification_agrees_with_sklearn_on_random_probabilities(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0, 1, 200)
    outcome = (rng.uniform(0, 1, 200) < 0.3 + 0.4 * prob).astype(float)  # some skill
    got = classification_report(prob, outcome)
    assert got["n"] == 200
    assert 0.5 < got["roc_auc"] < 1.0
    assert_matches(got, sklearn_classification(prob, outcome))


def test_classification_of_a_perfectly_separable_case() -> None:
    prob = np.array([0.1, 0.2, 0.45, 0.55, 0.8, 0.95])
    outcome = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    got = classification_report(prob, outcome)
    assert_matches(got, sklearn_classification(prob, outcome))
    assert got["accuracy"] == got["precision"] == got["recall"] == got["f1"] == got["roc_auc"] == 1.0
    assert got["brier"] == pytest.approx((0.01 + 0.04 + 0.2025 + 0.2025 + 0.04 + 0.0025) / 6)


@pytest.mark.parametrize("cls", [0.0, 1.0], ids=["all_down", "all_up"])
def test_classification_with_one_class_has_no_roc_auc(cls: float) -> None:
    prob = np.array([0.3, 0.6, 0.7, 0.2, 0.9])
    outcome = np.full(5, cls)
    got = classification_report(prob, outcome)
    assert got["roc_auc"] is None
    assert got["log_loss"] is not None and got["brier"] is not None
    assert_matches(got, sklearn_classification(prob, outcome))


def test_classification_drops_nan_outcomes() -> None:
    rng = np.random.default_rng(11)
    prob = rng.uniform(0, 1, 50)
    outcome = (rng.uniform(0, 1, 50) < prob).astype(float)
    outcome[[0, 7, 49]] = np.nan
    got = classification_report(prob, outcome)
    assert got["n"] == 47
    assert_matches(got, sklearn_classification(prob, outcome))
    keep = ~np.isnan(outcome)
    assert got == classification_report(prob[keep], outcome[keep])


def test_classification_at_exactly_one_half_predicts_down() -> None:
    got = classification_report(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    assert got["accuracy"] == 0.5  # the up row is missed, the down row hit
    assert got["recall"] == 0.0 and got["precision"] == 0.0 and got["f1"] == 0.0


def test_classification_log_loss_clips_certain_mistakes() -> None:
    got = classification_report(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert got["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-9)
    assert got["brier"] == 1.0


@pytest.mark.parametrize("prob,outcome", [([], []), ([0.7, 0.2], [np.nan, np.nan])],
                         ids=["empty", "all_unknown"])
def test_classification_without_rows_is_all_none(prob: list, outcome: list) -> None:
    got = classification_report(np.array(prob, dtype=float), np.array(outcome, dtype=float))
    assert got == {**dict.fromkeys(CLASSIFICATION_KEYS), "n": 0}


# -- regression_report against sklearn ------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 5, 9])
def test_regression_agrees_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 0.01, 100)
    predicted = 0.5 * actual + rng.normal(0, 0.01, 100)
    got = regression_report(predicted, actual)
    assert got["n"] == 100
    assert got["mse"] == pytest.approx(skm.mean_squared_error(actual, predicted), rel=1e-12)
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(actual, predicted)), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(actual, predicted), rel=1e-12)
    assert_plain_json(got)


def test_regression_drops_nan_rows() -> None:
    predicted = np.array([0.01, np.nan, -0.02, 0.03, 0.0])
    actual = np.array([0.02, 0.01, -0.01, np.nan, 0.01])
    got = regression_report(predicted, actual)
    p, a = np.array([0.01, -0.02, 0.0]), np.array([0.02, -0.01, 0.01])
    assert got["n"] == 3
    assert got["mse"] == pytest.approx((0.01**2 + 0.01**2 + 0.01**2) / 3)
    assert got["r2"] == pytest.approx(skm.r2_score(a, p))


@pytest.mark.parametrize("predicted,actual,mse", [([0.01], [0.03], 0.0004), ([0.0, 0.02], [0.01, 0.01], 0.0001)],
                         ids=["one_row", "no_variance"])
def test_regression_r2_is_none_when_undefined(predicted: list, actual: list, mse: float) -> None:
    got = regression_report(np.array(predicted), np.array(actual))
    assert got["r2"] is None
    assert got["mse"] == pytest.approx(mse)
    assert got["rmse"] == pytest.approx(math.sqrt(mse))


def test_regression_without_rows_is_all_none() -> None:
    assert regression_report(np.array([]), np.array([])) == {"mse": None, "rmse": None, "r2": None, "n": 0}


# -- curve metrics against hand arithmetic ---------------------------------------------------

EQUITY = [100.0, 110.0, 99.0, 120.0, 108.0]
R = [110 / 100 - 1, 99 / 110 - 1, 120 / 99 - 1, 108 / 120 - 1]  # 0.1, -0.1, 0.2121..., -0.1
PPY = 12  # say monthly bars: CAGR stays representable


def hand_mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_simple_returns() -> None:
    assert simple_returns(pd.Series(EQUITY, index=[0, 1, 2, 3, 4])) == pytest.approx(R, rel=1e-15)
    assert len(simple_returns(np.array([100.0]))) == 0


def test_sharpe_by_hand() -> None:
    mean = hand_mean(R)  # 0.11212121 / 4 = 0.0280303
    sample_std = math.sqrt(sum((r - mean) ** 2 for r in R) / (len(R) - 1))
    assert mean == pytest.approx(0.028030303, rel=1e-7)
    assert sample_std == pytest.approx(0.1547607, rel=1e-6)
    assert sharpe_ratio(np.array(EQUITY), PPY) == pytest.approx(mean / sample_std * math.sqrt(PPY), rel=1e-12)


def test_sortino_by_hand() -> None:
    mean = hand_mean(R)
    downside = math.sqrt((0.0 + (-0.1) ** 2 + 0.0 + (-0.1) ** 2) / 4)  # all four returns in the mean
    assert downside == pytest.approx(math.sqrt(0.005))
    expected = mean / downside * math.sqrt(PPY)
    assert expected == pytest.approx(1.3731988, rel=1e-7)
    assert sortino_ratio(pd.Series(EQUITY), PPY) == pytest.approx(expected, rel=1e-12)


def test_sortino_is_none_without_a_losing_bar() -> None:
    assert sortino_ratio(np.array([100.0, 101.0, 101.0, 103.0]), PPY) is None
    assert sortino_ratio(np.array([100.0]), PPY) is None


def test_max_drawdown_cagr_and_calmar_by_hand() -> None:
    drawdown = max(1 - 99 / 110, 1 - 108 / 120)  # both falls are 10 %
    growth = (108 / 100) ** (PPY / 4) - 1  # 4 bars of the 12 in a year
    assert growth == pytest.approx(1.08**3 - 1)
    assert max_drawdown(np.array(EQUITY)) == pytest.approx(drawdown)
    assert cagr(pd.Series(EQUITY), PPY) == pytest.approx(growth, rel=1e-12)
    assert calmar(growth, drawdown) == pytest.approx(growth / 0.1, rel=1e-12)


def test_cagr_over_data_with_a_hole_counts_the_calendar_not_the_bars() -> None:
    """A 41-day hole in 125 days was annualised as 83 days: the CAGR of a
    window the data only partly covers came out half again too steep."""
    hour, day = 3_600_000, 86_400_000
    times = [*range(0, 42 * day, hour), *range(83 * day, 125 * day, hour)]  # 84 days of bars in 125
    equity = pd.Series(np.linspace(10_000.0, 11_000.0, len(times)), index=pd.Index(times, dtype="int64"))
    years = (times[-1] - times[0]) / (365 * day)
    assert calendar_years(equity) == pytest.approx(years, rel=1e-12)
    report = trading_report(equity, equity * 0.0, pd.DataFrame(), 365 * 24, calendar_years(equity))
    assert report["cagr"] == pytest.approx(1.1 ** (1 / years) - 1, rel=1e-9)
    assert report["cagr"] < 1.1 ** (365 * 24 / (len(times) - 1)) - 1  # what counting bars gave


def test_cagr_of_a_loss_and_its_edges() -> None:
    assert cagr(np.array([100.0, 90.0, 81.0]), 2) == pytest.approx(0.81 - 1)  # one year: 2 bars of 2
    assert cagr(np.array([100.0]), PPY) is None
    assert cagr(np.array([0.0, 10.0]), PPY) is None
    assert cagr(np.array([100.0, 50.0, 0.0]), PPY) == -1.0
    assert cagr(np.array(EQUITY), 365 * 24) == pytest.approx(1.08**2190 - 1, rel=1e-9)  # ~1.6e73, still a float
    assert cagr(np.array(EQUITY), 365 * 24 * 60) is None  # 1.08 ** 131400 is not


def test_calmar_edges() -> None:
    assert calmar(0.2, 0.0) is None
    assert calmar(None, 0.1) is None
    assert calmar(-0.3, 0.15) == pytest.approx(-2.0)


def hand_psr(returns: list[float], benchmark: float) -> float:
    n = len(returns)
    mean = hand_mean(returns)
    sample_std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    m2 = sum((r - mean) ** 2 for r in returns) / n
    m3 = sum((r - mean) ** 3 for r in returns) / n
    m4 = sum((r - mean) ** 4 for r in returns) / n
    skew = m3 / m2**1.5
    kurt = m4 / m2**2  # non-excess: 3 for a normal
    sr = mean / sample_std
    z = (sr - benchmark) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.mark.parametrize("benchmark", [0.0, 0.05, -0.1])
def test_psr_by_hand(benchmark: float) -> None:
    expected = hand_psr(R, benchmark)
    mean = hand_mean(R)
    m2, m3, m4 = (sum((r - mean) ** k for r in R) / len(R) for k in (2, 3, 4))
    skew, kurt = m3 / m2**1.5, m4 / m2**2
    assert (skew, kurt) == pytest.approx((stats.skew(R), stats.kurtosis(R, fisher=False)), rel=1e-12)
    # and the values themselves, so the definitions cannot drift together
    assert skew == pytest.approx(0.250695, abs=1e-6)
    assert kurt == pytest.approx(1.326958, abs=1e-6)
    got = probabilistic_sharpe_ratio(pd.Series(EQUITY), benchmark=benchmark)
    assert got == pytest.approx(expected, rel=1e-12)


def test_psr_by_hand_value_and_direction() -> None:
    assert hand_psr(R, 0.0) == pytest.approx(0.625756, abs=1e-6)
    psr0 = probabilistic_sharpe_ratio(np.array(EQUITY))
    assert psr0 > probabilistic_sharpe_ratio(np.array(EQUITY), benchmark=0.05)
    losing = probabilistic_sharpe_ratio(np.array([100.0, 95.0, 96.0, 90.0, 91.0]))
    assert losing < 0.5


@pytest.mark.parametrize("equity", [[100.0, 110.0, 99.0], [100.0, 100.0, 100.0, 100.0], [100.0]],
                         ids=["two_returns", "flat", "one_point"])
def test_psr_is_none_when_undefined(equity: list[float]) -> None:
    assert probabilistic_sharpe_ratio(np.array(equity)) is None


# -- trade metrics on a small fills table ----------------------------------------------------

TABLE = fills(
    (1, 1_000, "BTC/USDT", "buy", 1.0, 100.0, 0.10, -0.10, "o1"),
    (2, 2_000, "BTC/USDT", "sell", 1.0, 110.0, 0.11, 10.0 - 0.11, "o2"),   # BTC trip 1: +9.79
    (3, 2_000, "ETH/USDT", "buy", 10.0, 20.0, 0.20, -0.20, "o3"),
    (4, 3_000, "ETH/USDT", "sell", 10.0, 19.0, 0.19, -10.0 - 0.19, "o4"),  # ETH trip: -10.39
    (5, 4_000, "BTC/USDT", "buy", 2.0, 105.0, 0.21, -0.21, "o5"),
    (6, 5_000, "BTC/USDT", "sell", 2.0, 108.0, 0.216, 6.0 - 0.216, "o6"),  # BTC trip 2: +5.574
    (7, 6_000, "BTC/USDT", "buy", 1.0, 100.0, 0.10, -0.10, "o7"),          # still open
)
NOTIONAL = 100.0 + 110.0 + 200.0 + 190.0 + 210.0 + 216.0 + 100.0
FEES = 0.10 + 0.11 + 0.20 + 0.19 + 0.21 + 0.216 + 0.10


def test_profit_factor_of_the_closed_trips() -> None:
    trips = round_trips(TABLE)
    assert sorted(round(t.pnl, 9) for t in trips if t.exit_ts is not None) == [-10.39, 5.574, 9.79]
    assert profit_factor(trips) == pytest.approx((9.79 + 5.574) / 10.39)


def test_profit_factor_edges() -> None:
    assert profit_factor([]) is None
    assert profit_factor([RoundTrip("X", 0, 1, 2.0), RoundTrip("X", 2, 3, 0.0)]) is None  # no loser
    assert profit_factor([RoundTrip("X", 0, 1, -2.0)]) == 0.0
    # an open trip's PnL does not count
    assert profit_factor([RoundTrip("X", 0, 1, 3.0), RoundTrip("X", 2, 3, -1.0),
                          RoundTrip("X", 4, None, -5.0)]) == pytest.approx(3.0)


def test_exposure_counts_long_and_short_bars() -> None:
    assert exposure(pd.Series([0.0, 50.0, -30.0, 0.0, 0.0])) == pytest.approx(2 / 5)
    assert exposure(pd.Series([0.0, np.nan, 10.0, 10.0])) == pytest.approx(2 / 4)
    assert exposure(pd.Series([], dtype=float)) == 0.0


def test_turnover_is_notional_over_mean_equity() -> None:
    equity = pd.Series([1_000.0, 1_010.0, 990.0, 1_020.0])
    assert turnover(TABLE, equity) == pytest.approx(NOTIONAL / 1_005.0)
    assert turnover(fills(), equity) == 0.0
    assert turnover(TABLE, pd.Series([], dtype=float)) is None


def test_trading_report_on_the_fills_table() -> None:
    equity = pd.Series([1_000.0, 1_010.0, 990.0, 1_020.0, 1_004.0, 1_010.0],
                       index=[1_000, 2_000, 3_000, 4_000, 5_000, 6_000])
    position = pd.Series([100.0, 0.0, 190.0, 210.0, 0.0, 100.0], index=equity.index)
    report = trading_report(equity, position, TABLE, periods_per_year=5)
    assert set(report) == TRADING_KEYS
    assert_plain_json(report)
    assert report["trades"] == 3
    assert report["win_rate"] == pytest.approx(2 / 3)
    assert report["profit_factor"] == pytest.approx((9.79 + 5.574) / 10.39)
    assert report["fees_paid"] == pytest.approx(FEES)
    assert report["exposure"] == pytest.approx(4 / 6)
    assert report["turnover"] == pytest.approx(NOTIONAL / (6_034.0 / 6))
    assert report["total_return"] == pytest.approx(0.01)
    assert report["final_equity"] == 1_010.0
    assert report["cagr"] == pytest.approx(1.01 - 1)  # 5 bars of 5 a year
    assert report["max_drawdown"] == pytest.approx(1 - 990 / 1_010)
    assert report["calmar"] == pytest.approx(0.01 / (1 - 990 / 1_010))


def test_trading_report_on_the_hand_series() -> None:
    equity = pd.Series(EQUITY)
    report = trading_report(equity, pd.Series([0.0] * 5), fills(), PPY)
    assert report["sharpe"] == pytest.approx(sharpe_ratio(np.array(EQUITY), PPY))
    assert report["sortino"] == pytest.approx(1.3731988, rel=1e-7)
    assert report["psr"] == pytest.approx(hand_psr(R, 0.0), rel=1e-12)
    assert report["cagr"] == pytest.approx(1.08**3 - 1)
    assert report["total_return"] == pytest.approx(0.08)
    assert (report["trades"], report["win_rate"], report["profit_factor"]) == (0, None, None)


# -- round trips of shorts --------------------------------------------------------------------

def test_a_short_is_one_round_trip_closed_by_the_buy_back() -> None:
    frame = fills(
        (1, 1_000, "BTC/USDT", "sell", 1.0, 100.0, 0.1, -0.1, "a"),
        (2, 2_000, "BTC/USDT", "buy", 1.0, 90.0, 0.09, 10.0 - 0.09, "b"),
        (3, 3_000, "BTC/USDT", "sell", 0.5, 95.0, 0.05, -0.05, "c"),
    )
    trips = round_trips(frame)
    assert [(t.entry_ts, t.exit_ts) for t in trips] == [(1_000, 2_000), (3_000, None)]
    assert [t.pnl for t in trips] == pytest.approx([9.81, -0.05])
    assert win_rate(trips) == 1.0


def test_a_flip_through_zero_closes_one_trip_and_opens_the_next() -> None:
    frame = fills(
        (1, 1_000, "BTC/USDT", "buy", 1.0, 100.0, 0.1, -0.1, "a"),
        (2, 2_000, "BTC/USDT", "sell", 3.0, 110.0, 0.33, 10.0 - 0.33, "b"),  # long 1 -> short 2
        (3, 3_000, "BTC/USDT", "buy", 2.0, 105.0, 0.21, 10.0 - 0.21, "c"),
    )
    trips = round_trips(frame)
    assert [(t.entry_ts, t.exit_ts) for t in trips] == [(1_000, 2_000), (2_000, 3_000)]
    assert [t.pnl for t in trips] == pytest.approx([9.57, 9.79])


def test_a_sell_of_the_holding_plus_dust_closes_the_trip() -> None:
    frame = fills(
        (1, 1_000, "BTC/USDT", "buy", 0.7, 100.0, 0.0, 0.0, "a"),
        (2, 2_000, "BTC/USDT", "sell", 0.7 * (1 + 5e-10), 101.0, 0.0, 0.7, "b"),
    )
    assert [(t.entry_ts, t.exit_ts) for t in round_trips(frame)] == [(1_000, 2_000)]


# -- degenerate inputs stay JSON ----------------------------------------------------------------

@pytest.mark.parametrize("equity,position,fill_table", [
    ([1_000.0] * 6, [0.0] * 6, fills()),
    ([1_000.0, 1_010.0, 1_020.0], [0.0, 0.0, 0.0], pd.DataFrame()),
    ([1_000.0], [0.0], fills()),
    ([], [], fills()),
    ([1_000.0, 0.0, 0.0, 10.0], [500.0, 0.0, 0.0, 0.0], TABLE),
    ([1_000.0, np.nan, 990.0, 1_005.0], [0.0, 0.0, 10.0, 10.0], TABLE.iloc[:1]),
    ([5e-324, 1e300], [0.0, 0.0], fills()),  # a return too large for a float
], ids=["flat", "no_fills_no_columns", "single_bar", "empty", "through_zero", "nan_point_open_trip",
        "overflowing_return"])
def test_trading_report_is_json_for_degenerate_inputs(equity: list, position: list,
                                                      fill_table: pd.DataFrame) -> None:
    report = trading_report(pd.Series(equity, dtype=float), pd.Series(position, dtype=float), fill_table,
                            periods_per_year=365 * 24)
    assert set(report) == TRADING_KEYS
    assert_plain_json(report)
    assert type(report["trades"]) is int


def test_trading_report_of_a_flat_curve() -> None:
    report = trading_report(pd.Series([1_000.0] * 6), pd.Series([0.0] * 6), fills(), 365 * 24)
    assert report == {"total_return": 0.0, "cagr": 0.0, "sharpe": None, "sortino": None,
                      "max_drawdown": 0.0, "calmar": None, "win_rate": None, "profit_factor": None,
                      "trades": 0, "exposure": 0.0, "turnover": 0.0, "fees_paid": 0.0, "psr": None,
                      "final_equity": 1_000.0}


def test_trading_report_of_a_single_bar() -> None:
    report = trading_report(pd.Series([1_000.0], index=[5_000]), pd.Series([0.0], index=[5_000]), fills(), 8_760)
    assert report["total_return"] == 0.0 and report["final_equity"] == 1_000.0
    assert report["cagr"] is None and report["sharpe"] is None and report["psr"] is None


def test_model_variants_that_made_the_very_same_fills_are_named_together() -> None:
    """Five variants once traded bar for bar alike (their edge came from a
    base rate they all read), and the table showed five results."""
    import pandas as pd

    from bot.backtest.result import BacktestResult, VariantRun

    def run(name: str, fills: list[tuple]) -> VariantRun:
        frame = pd.DataFrame(fills, columns=["ts", "side", "qty", "price"])
        empty = pd.Series(dtype=float)
        return VariantRun(name, empty, empty, frame, pd.DataFrame())

    alike = [(1, "buy", 0.5, 100.0), (9, "sell", 0.5, 104.0)]
    result = BacktestResult(
        strategy=run("strategy", alike),
        baselines={
            "buy_and_hold": run("buy_and_hold", alike[:1]),
            "flat": run("flat", []),
            "logistic": run("logistic", alike),
            "random_forest": run("random_forest", [(1, "buy", 0.5, 100.0), (9, "sell", 0.5, 104.5)]),
            "gru": run("gru", []),
            "lightgbm": run("lightgbm", list(alike)),
        },
        prices=pd.DataFrame(), config={}, data={},
    )
    assert result.same_trades() == [["strategy", "logistic", "lightgbm"]]
    assert result.to_json()["same_trades"] == [["strategy", "logistic", "lightgbm"]]
