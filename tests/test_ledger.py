"""Tests for bot.ledger: cash, positions, realized/unrealized PnL and fees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Fill, Side
from bot.ledger import Ledger

BTC = "BTC/USDT"
ETH = "ETH/USDT"


def fill(side: Side, qty: float, price: float, fee: float = 0.0, symbol: str = BTC, ts: int = 0) -> Fill:
    return Fill(f"{symbol}:{ts}:{side.value}", symbol, side, qty, price, fee, ts)


def buy(qty: float, price: float, fee: float = 0.0, symbol: str = BTC) -> Fill:
    return fill(Side.BUY, qty, price, fee, symbol)


def sell(qty: float, price: float, fee: float = 0.0, symbol: str = BTC) -> Fill:
    return fill(Side.SELL, qty, price, fee, symbol)


def test_round_trip_realized_pnl_is_price_move_minus_both_fees() -> None:
    ledger = Ledger(cash=1_000.0)
    booked = ledger.apply(buy(2, 100.0, fee=0.2)) + ledger.apply(sell(2, 110.0, fee=0.22))
    expected = (110.0 - 100.0) * 2 - 0.2 - 0.22  # 19.58
    assert booked == pytest.approx(expected)
    assert ledger.realized_pnl == pytest.approx(expected)
    assert ledger.cash == pytest.approx(1_000.0 + expected)
    assert ledger.position(BTC).qty == 0.0


def test_buy_returns_minus_fee_as_realized() -> None:
    ledger = Ledger(cash=1_000.0)
    assert ledger.apply(buy(1, 100.0, fee=0.3)) == pytest.approx(-0.3)


def test_fees_reduce_cash_on_both_sides() -> None:
    ledger = Ledger(cash=1_000.0)
    ledger.apply(buy(2, 100.0, fee=0.5))
    assert ledger.cash == pytest.approx(1_000.0 - 2 * 100.0 - 0.5)
    ledger.apply(sell(1, 100.0, fee=0.25))
    assert ledger.cash == pytest.approx(1_000.0 - 200.0 - 0.5 + 100.0 - 0.25)
    assert ledger.fees_paid == pytest.approx(0.75)


def test_selling_more_than_held_raises_and_changes_nothing() -> None:
    ledger = Ledger(cash=1_000.0)
    ledger.apply(buy(1, 100.0))
    with pytest.raises(ValueError):
        ledger.apply(sell(1.5, 110.0, fee=0.1))
    assert ledger.position(BTC).qty == 1.0
    assert ledger.cash == pytest.approx(900.0)
    assert ledger.fees_paid == 0.0


def test_selling_without_a_position_raises() -> None:
    with pytest.raises(ValueError):
        Ledger(cash=1_000.0).apply(sell(0.1, 100.0))


def test_avg_entry_of_two_buys_is_qty_weighted() -> None:
    ledger = Ledger(cash=10_000.0)
    ledger.apply(buy(1, 100.0))
    ledger.apply(buy(3, 200.0))
    assert ledger.position(BTC).avg_entry == pytest.approx((1 * 100.0 + 3 * 200.0) / 4)  # 175
    assert ledger.position(BTC).qty == 4


def test_partial_sell_keeps_avg_entry() -> None:
    ledger = Ledger(cash=10_000.0)
    ledger.apply(buy(2, 100.0))
    ledger.apply(buy(2, 120.0))
    realized = ledger.apply(sell(1, 150.0, fee=0.5))
    pos = ledger.position(BTC)
    assert pos.avg_entry == pytest.approx(110.0)
    assert pos.qty == pytest.approx(3.0)
    assert realized == pytest.approx((150.0 - 110.0) * 1 - 0.5)


def test_full_sell_resets_position() -> None:
    ledger = Ledger(cash=1_000.0)
    ledger.apply(buy(0.3, 100.0))
    ledger.apply(sell(0.1, 100.0))
    ledger.apply(sell(0.2, 100.0))  # 0.3 - 0.1 - 0.2 leaves float residue
    assert ledger.position(BTC).qty == 0.0
    assert ledger.position(BTC).avg_entry == 0.0


def test_cash_plus_positions_equals_initial_plus_pnl_after_a_sequence() -> None:
    ledger = Ledger(cash=10_000.0)
    ledger.apply(buy(1, 100.0, fee=1.0))
    ledger.apply(buy(1, 120.0, fee=1.0))
    ledger.apply(sell(0.5, 130.0, fee=0.5))
    ledger.apply(buy(10, 5.0, fee=0.1, symbol=ETH))
    ledger.mark(BTC, 125.0)
    ledger.mark(ETH, 4.0)
    # By hand: BTC avg 110, realized (130 - 110) * 0.5 - 2.5 fees = 7.5; ETH realized -0.1.
    cash = 10_000.0 - 101.0 - 121.0 + (65.0 - 0.5) - 50.1  # 9792.4
    value = 1.5 * 125.0 + 10 * 4.0  # 227.5
    unrealized = 1.5 * (125.0 - 110.0) + 10 * (4.0 - 5.0)  # 12.5
    assert ledger.cash == pytest.approx(cash)
    assert ledger.realized_pnl == pytest.approx(7.4)
    assert cash + value == pytest.approx(10_000.0 + 7.4 + unrealized)
    assert ledger.snapshot(1).equity == pytest.approx(cash + value)


def test_snapshot_values() -> None:
    ledger = Ledger(cash=1_000.0)
    ledger.apply(buy(2, 100.0, fee=0.4))
    ledger.mark(BTC, 90.0)
    snap = ledger.snapshot(ts=1_700_000_000_000)
    assert snap.ts == 1_700_000_000_000
    assert snap.cash == pytest.approx(1_000.0 - 200.0 - 0.4)
    assert snap.position_value == pytest.approx(2 * 90.0)
    assert snap.equity == pytest.approx(1_000.0 - 200.4 + 180.0)
    assert snap.realized_pnl == pytest.approx(-0.4)
    assert snap.unrealized_pnl == pytest.approx(2 * (90.0 - 100.0))
    assert snap.fees_paid == pytest.approx(0.4)


def test_first_fill_marks_an_unmarked_position_at_its_price() -> None:
    ledger = Ledger(cash=1_000.0)
    ledger.apply(buy(1, 100.0))
    assert ledger.snapshot(0).position_value == pytest.approx(100.0)
    assert ledger.snapshot(0).unrealized_pnl == 0.0


# -- property: arbitrary sequences keep the books consistent ------------------

_prices = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)
_qtys = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)
_fees = st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False)
_share = st.one_of(st.just(1.0), st.floats(min_value=0.01, max_value=1.0))  # of the holding
_symbols = st.sampled_from([BTC, ETH])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), _symbols, _qtys, _prices, _fees),
        st.tuples(st.just("sell"), _symbols, _share, _prices, _fees),
        st.tuples(st.just("mark"), _symbols, _prices),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(initial=st.floats(min_value=1.0, max_value=1e7), ops=_ops)
def test_books_stay_consistent_over_random_fills(initial: float, ops: list[tuple]) -> None:
    """An independent model (cash from fills, qty as the signed sum of fills,
    marks as the last mark, or the fill price when a position opens from
    flat) must match the ledger.
    Tolerance is 1e-6 relative, with an absolute floor of 1e-9 of the gross
    amounts traded, since cash is a difference of large notionals."""
    ledger = Ledger(cash=initial)
    cash, qty, marks, fees, gross = initial, {BTC: 0.0, ETH: 0.0}, {}, 0.0, initial
    for ts, op in enumerate(ops):
        kind, symbol = op[0], op[1]
        if kind == "mark":
            ledger.mark(symbol, op[2])
            marks[symbol] = op[2]
            continue
        _, _, size, price, fee = op
        if kind == "sell":
            size = size * qty[symbol]  # never more than held
            if size <= 0.0:
                continue
        ledger.apply(fill(Side.BUY if kind == "buy" else Side.SELL, size, price, fee, symbol, ts))
        if abs(qty[symbol]) <= 1e-12:
            marks[symbol] = price  # a position opened from flat is valued at its fill
        signed = size if kind == "buy" else -size
        qty[symbol] += signed
        cash -= signed * price + fee
        fees += fee
        gross += size * price + fee

    snap = ledger.snapshot(len(ops))
    value = sum(qty[s] * marks.get(s, 0.0) for s in qty)
    gross += sum(abs(qty[s]) * marks.get(s, 0.0) for s in qty)
    close = dict(rel=1e-6, abs=1e-9 * gross)
    assert snap.cash + snap.position_value == pytest.approx(snap.equity, **close)
    assert snap.cash == pytest.approx(cash, **close)
    assert snap.position_value == pytest.approx(value, **close)
    assert snap.equity == pytest.approx(cash + value, **close)
    assert initial + snap.realized_pnl + snap.unrealized_pnl == pytest.approx(snap.equity, **close)
    assert snap.fees_paid == pytest.approx(fees, rel=1e-9, abs=1e-12)
    for symbol in qty:
        assert ledger.position(symbol).qty == pytest.approx(qty[symbol], rel=1e-9, abs=1e-9)


def test_snapshot_adds_the_positions_left_to_right_bit_for_bit() -> None:
    """The stored equity must not move in the last bit when the snapshot's
    arithmetic is reorganised: the same additions, in position order."""
    ledger = Ledger(cash=10_000.0, allow_short=True)
    for i, (symbol, qty, price, mark) in enumerate(
        [("A/USDT", 0.1, 101.7, 99.3), ("B/USDT", 3.3, 0.217, 0.231), ("C/USDT", 0.7, 33.1, 35.9)]
    ):
        ledger.apply(buy(qty, price, fee=0.013 * (i + 1), symbol=symbol))
        ledger.mark(symbol, mark)
    ledger.apply(sell(0.2, 34.7, fee=0.01, symbol="C/USDT"))
    positions = list(ledger.positions.values())
    value = unrealized = realized = 0.0
    for p in positions:
        value = value + p.qty * p.mark
        unrealized = unrealized + p.qty * (p.mark - p.avg_entry)
        realized = realized + p.realized_pnl
    snap = ledger.snapshot(7)
    assert (snap.ts, snap.cash, snap.fees_paid) == (7, ledger.cash, ledger.fees_paid)
    assert (snap.position_value, snap.unrealized_pnl, snap.realized_pnl) == (value, unrealized, realized)
    assert snap.equity == ledger.cash + value
    assert realized != 0.0 and unrealized != 0.0  # every sum is exercised


def test_a_dust_sell_against_a_flat_position_books_only_its_fee() -> None:
    """Selling what float residue a closed position left behind (found by
    the property test above: five buys of 1, then sells of 0.9999999999999999
    of the holding and of what remained) is no trade, not a crash."""
    ledger = Ledger(cash=1_000.0)
    for _ in range(5):
        ledger.apply(buy(1.0, 1.0))
    ledger.apply(sell(5.0 * 0.9999999999999999, 1.0))
    assert ledger.position(BTC).qty == 0.0  # the residue is below the ledger's dust
    before = ledger.cash
    assert ledger.apply(sell(4.4e-16, 1.0, fee=0.01)) == -0.01
    assert ledger.position(BTC).qty == 0.0 and ledger.position(BTC).avg_entry == 0.0
    assert ledger.cash == pytest.approx(before - 0.01)
