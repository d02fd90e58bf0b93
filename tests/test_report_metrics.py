"""Tests for bot.report.metrics against values worked out by hand."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from bot.report.metrics import RoundTrip, max_drawdown, round_trips, sharpe_ratio, win_rate

HOURS_PER_YEAR = 365 * 24


def fills(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "symbol", "side", "qty", "realized_pnl", "ts"])


# -- sharpe_ratio -------------------------------------------------------------

def test_sharpe_of_a_small_series() -> None:
    returns = [110 / 100 - 1, 99 / 110 - 1, 120 / 99 - 1]  # 0.1, -0.1, 0.2121...
    mean = sum(returns) / 3
    sample_std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (3 - 1))
    expected = mean / sample_std * math.sqrt(HOURS_PER_YEAR)
    assert sample_std == pytest.approx(statistics.stdev(returns))
    got = sharpe_ratio(np.array([100.0, 110.0, 99.0, 120.0]), HOURS_PER_YEAR)
    assert got == pytest.approx(expected, rel=1e-12)


def test_sharpe_is_negative_for_a_losing_series() -> None:
    returns = [95 / 100 - 1, 96 / 95 - 1, 90 / 96 - 1]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    assert sharpe_ratio(np.array([100.0, 95.0, 96.0, 90.0]), 252) == pytest.approx(expected, rel=1e-12)
    assert expected < 0


@pytest.mark.parametrize("equity", [[], [100.0], [100.0, 101.0], [100.0, 100.0, 100.0]],
                         ids=["empty", "one", "two", "flat"])
def test_sharpe_is_none_without_enough_variation(equity: list[float]) -> None:
    assert sharpe_ratio(np.array(equity), HOURS_PER_YEAR) is None


# -- max_drawdown -------------------------------------------------------------

def test_max_drawdown_of_a_small_series() -> None:
    assert max_drawdown(np.array([100.0, 110.0, 99.0, 120.0])) == pytest.approx(1 - 99 / 110)


def test_max_drawdown_takes_the_deepest_of_several() -> None:
    # peak 120 -> 90 is 25 %; the later peak 130 -> 91 is 30 %.
    equity = np.array([100.0, 120.0, 90.0, 130.0, 91.0, 125.0])
    assert max_drawdown(equity) == pytest.approx(max(1 - 90 / 120, 1 - 91 / 130))


def test_max_drawdown_is_measured_from_the_running_peak_not_the_start() -> None:
    assert max_drawdown(np.array([100.0, 200.0, 150.0])) == pytest.approx(1 - 150 / 200)


@pytest.mark.parametrize("equity", [[], [100.0], [100.0, 101.0, 101.0, 150.0]],
                         ids=["empty", "one", "rising"])
def test_max_drawdown_is_zero_without_a_fall(equity: list[float]) -> None:
    assert max_drawdown(np.array(equity)) == 0.0


# -- round_trips and win_rate -------------------------------------------------

TWO_CLOSED_ONE_OPEN = fills(
    (1, "BTC/USDT", "buy", 1.0, -0.1, 1_000),
    (2, "BTC/USDT", "sell", 0.4, 3.9, 2_000),
    (3, "BTC/USDT", "sell", 0.6, 5.0, 3_000),   # flat: trip 1 closed
    (4, "BTC/USDT", "buy", 2.0, -0.2, 4_000),
    (5, "BTC/USDT", "sell", 2.0, -6.0, 5_000),  # flat: trip 2 closed
    (6, "BTC/USDT", "buy", 1.0, -0.1, 6_000),   # still open
)


def test_round_trips_sum_pnl_per_trip() -> None:
    trips = round_trips(TWO_CLOSED_ONE_OPEN)
    assert [(t.symbol, t.entry_ts, t.exit_ts) for t in trips] == [
        ("BTC/USDT", 1_000, 3_000), ("BTC/USDT", 4_000, 5_000), ("BTC/USDT", 6_000, None)]
    assert [t.pnl for t in trips] == pytest.approx([-0.1 + 3.9 + 5.0, -0.2 - 6.0, -0.1])


def test_round_trips_do_not_depend_on_row_order() -> None:
    shuffled = TWO_CLOSED_ONE_OPEN.sample(frac=1.0, random_state=3)
    assert list(shuffled["id"]) != sorted(shuffled["id"])
    assert round_trips(shuffled) == round_trips(TWO_CLOSED_ONE_OPEN)


def test_round_trips_break_ts_ties_by_id() -> None:
    """An exit and a new entry stamped the same ms: the lower id came first."""
    frame = fills(
        (1, "BTC/USDT", "buy", 1.0, -0.1, 1_000),
        (3, "BTC/USDT", "buy", 1.0, -0.1, 2_000),
        (2, "BTC/USDT", "sell", 1.0, 2.0, 2_000),
        (4, "BTC/USDT", "sell", 1.0, -1.0, 3_000),
    )
    trips = round_trips(frame)
    assert [(t.entry_ts, t.exit_ts) for t in trips] == [(1_000, 2_000), (2_000, 3_000)]
    assert [t.pnl for t in trips] == pytest.approx([1.9, -1.1])


def test_round_trips_are_per_symbol() -> None:
    frame = fills(
        (1, "BTC/USDT", "buy", 1.0, -0.1, 1_000),
        (2, "ETH/USDT", "buy", 5.0, -0.05, 1_500),
        (3, "BTC/USDT", "sell", 1.0, 4.0, 2_000),
        (4, "ETH/USDT", "sell", 5.0, -2.0, 2_500),
    )
    trips = round_trips(frame)
    assert trips == [RoundTrip("BTC/USDT", 1_000, 2_000, pytest.approx(3.9)),
                     RoundTrip("ETH/USDT", 1_500, 2_500, pytest.approx(-2.05))]


def test_round_trip_closes_despite_float_residue() -> None:
    frame = fills(
        (1, "BTC/USDT", "buy", 0.3, 0.0, 1_000),
        (2, "BTC/USDT", "sell", 0.1, 1.0, 2_000),
        (3, "BTC/USDT", "sell", 0.2, 1.0, 3_000),  # 0.3 - 0.1 - 0.2 != 0.0 in floats
    )
    assert [t.exit_ts for t in round_trips(frame)] == [3_000]


def test_win_rate_counts_closed_trips_only() -> None:
    trips = round_trips(TWO_CLOSED_ONE_OPEN)
    assert win_rate(trips) == 1 / 2  # one winner (8.8), one loser (-6.2); the open one is ignored


def test_win_rate_counts_a_zero_pnl_trip_as_not_won() -> None:
    trips = [RoundTrip("X", 0, 1, 0.0), RoundTrip("X", 2, 3, 1.0), RoundTrip("X", 4, 5, 2.0)]
    assert win_rate(trips) == 2 / 3


def test_win_rate_is_none_without_closed_trips() -> None:
    assert win_rate([]) is None
    assert win_rate([RoundTrip("X", 0, None, 5.0)]) is None


def test_trade_list_splits_a_flipping_fill_between_the_trips_it_ends_and_opens() -> None:
    from bot.report.trade_list import trade_list

    fills = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "order_id": ["a", "b", "c", "d"],
        "symbol": ["X"] * 4,
        "side": ["buy", "buy", "sell", "buy"],
        "qty": [1.0, 1.0, 3.0, 1.0],  # long 2, then a sell of 3 closes it and opens a short of 1
        "price": [100.0, 102.0, 110.0, 105.0],
        "fee": [0.1, 0.1, 0.3, 0.1],
        "ts": [0, 3_600_000, 7_200_000, 18_000_000],
        "realized_pnl": [-0.1, -0.1, 17.8, 4.9],
    })
    orders = pd.DataFrame({"id": ["a", "b", "c", "d"], "reason": ["entry", "entry", "exit", "stop_loss"]})
    long, short = trade_list(fills, orders, 3_600_000)
    assert (long.direction, long.qty, long.entry_price, long.exit_price) == ("long", 2.0, 101.0, 110.0)
    assert long.fees == pytest.approx(0.1 + 0.1 + 0.2) and long.bars_held == 2
    assert (long.entry_reason, long.exit_reason) == ("entry", "exit")
    assert (short.direction, short.qty, short.entry_price, short.exit_price) == ("short", 1.0, 110.0, 105.0)
    assert short.fees == pytest.approx(0.1 + 0.1) and short.bars_held == 3
    assert (short.entry_reason, short.exit_reason) == ("exit", "stop_loss")
    assert long.fees + short.fees == pytest.approx(fills.fee.sum())


def test_an_open_trade_is_marked_to_the_price_given_and_a_closed_one_is_not() -> None:
    from bot.report.trade_list import trade_list

    fills = pd.DataFrame({
        "id": [1, 2, 3], "order_id": ["a", "b", "c"], "symbol": ["X", "X", "Y"],
        "side": ["buy", "sell", "sell"], "qty": [1.0, 1.0, 2.0], "price": [100.0, 104.0, 100.0],
        "fee": [0.1, 0.1, 0.2], "ts": [0, 3_600_000, 0], "realized_pnl": [-0.1, 3.9, -0.2],
    })
    orders = pd.DataFrame({"id": ["a", "b", "c"], "reason": ["entry", "exit", "entry"]})
    closed, short = trade_list(fills, orders, 3_600_000, marks={"X": 200.0, "Y": 90.0})
    assert (closed.mark_price, closed.open_pnl, closed.open_return_pct) == (None, None, None)
    # A short of 2 from 100, now at 90: 20 gained, less the entry fee; the realized PnL is the fee alone.
    assert short.pnl == pytest.approx(-0.2)
    assert (short.mark_price, short.open_pnl) == (90.0, pytest.approx(19.8))
    assert short.open_return_pct == pytest.approx(19.8 / 200)
    unmarked = trade_list(fills, orders, 3_600_000)[1]
    assert (unmarked.mark_price, unmarked.open_pnl) == (None, None)


def test_extreme_moves_alone_are_no_fault_in_the_data() -> None:
    """Clean 4h bars with two extreme moves were said to have "had faults",
    the figures "of the bars that passed", though every bar had passed."""
    from bot.report.data_quality import data_quality_counts, data_quality_note

    assert data_quality_note(data_quality_counts({})) is None
    moves = data_quality_note(data_quality_counts({"extreme_move": 2}))
    assert moves is not None and moves.startswith("The data had 2 extreme moves") and "fault" not in moves
    holed = data_quality_note(data_quality_counts({"extreme_move": 2, "gap_unfilled": 1}))
    assert holed is not None and holed.startswith("The data had faults (") and "gaps unfilled 1" in holed
