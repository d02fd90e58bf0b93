"""Tests for bot.broker.PaperBroker: market fills at the next open with the
order's own slippage and the taker fee, latency, cash and volume limits,
stops (with gaps), take-profit limits, groups, re-pricing and cancellation.

Every expected price is computed by hand from the bar and the order."""

from __future__ import annotations

import pytest

from bot.broker import PaperBroker
from bot.config import PaperConfig
from bot.domain import Bar, Order, OrderKind, OrderStatus, Side

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
T0 = 1_699_999_200_000  # an hour boundary
FEE_BPS, MAKER_BPS = 10.0, 2.0
FEE, MAKER = 0.001, 0.0002  # the same, as fractions
# Orders carry their own slippage; the config's is deliberately different so
# a broker that used the config instead of the order would be caught.
ORDER_SLIP_BPS, ORDER_SLIP = 7.0, 0.0007
CONFIG_SLIP_BPS = 5.0


def broker(max_volume_share: float | None = None) -> PaperBroker:
    return PaperBroker(PaperConfig(fee_bps=FEE_BPS, maker_fee_bps=MAKER_BPS, slippage_bps=CONFIG_SLIP_BPS,
                                   max_volume_share=max_volume_share), HOUR)


def bar(ts: int, o: float, h: float, low: float, c: float, volume: float = 10.0, symbol: str = BTC) -> Bar:
    return Bar(symbol, ts, o, h, low, c, volume)


def market(side: Side, qty: float, *, created_ts: int = T0 + HOUR + 5_000, not_before_ts: int = T0 + HOUR,
           slippage_bps: float = ORDER_SLIP_BPS, symbol: str = BTC, oid: str | None = None) -> Order:
    return Order(oid or f"{symbol}:{T0}:{side.value}", symbol, side, OrderKind.MARKET, qty, created_ts, "entry",
                 not_before_ts=not_before_ts, slippage_bps=slippage_bps)


def stop(price: float, side: Side = Side.SELL, qty: float = 1.0, *, group: str | None = None,
         created_ts: int = T0, symbol: str = BTC, slippage_bps: float = ORDER_SLIP_BPS) -> Order:
    return Order(f"{symbol}:{created_ts}:stop:{side.value}", symbol, side, OrderKind.STOP, qty, created_ts,
                 "stop_loss", stop_price=price, group=group, slippage_bps=slippage_bps)


def take_profit(price: float, side: Side = Side.SELL, qty: float = 1.0, *, group: str | None = None,
                created_ts: int = T0, symbol: str = BTC, slippage_bps: float = 0.0) -> Order:
    return Order(f"{symbol}:{created_ts}:take_profit:{side.value}", symbol, side, OrderKind.LIMIT, qty, created_ts,
                 "take_profit", limit_price=price, group=group, slippage_bps=slippage_bps)


NEXT = bar(T0 + HOUR, 105.0, 112.0, 101.0, 108.0)  # the bar after the decision bar T0


# -- market orders ---------------------------------------------------------------


def test_market_buy_fills_at_next_open_with_its_own_slippage_and_the_taker_fee() -> None:
    b = broker()
    order = market(Side.BUY, 2.0)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1_000_000.0)
    price = 105.0 * (1 + ORDER_SLIP)  # the open (not the close 108), moved by the order's 7 bps
    assert f.price == pytest.approx(price, rel=1e-12)
    assert f.qty == 2.0
    assert f.fee == pytest.approx(2.0 * price * FEE, rel=1e-12)
    assert (f.order_id, f.symbol, f.side) == (order.id, BTC, Side.BUY)
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == 2.0
    assert b.open_orders == {}


def test_market_sell_fills_at_open_minus_its_slippage() -> None:
    b = broker()
    b.submit(market(Side.SELL, 1.5, slippage_bps=20.0))
    [f] = b.fill_market_orders(NEXT, cash=0.0)  # a sell needs no cash
    assert f.price == pytest.approx(105.0 * (1 - 0.002), rel=1e-12)
    assert f.fee == pytest.approx(1.5 * 105.0 * (1 - 0.002) * FEE, rel=1e-12)


def test_market_order_with_zero_slippage_fills_exactly_at_the_open() -> None:
    b = broker()
    b.submit(market(Side.BUY, 1.0, slippage_bps=0.0))
    [f] = b.fill_market_orders(NEXT, cash=1e6)
    assert f.price == 105.0


def test_market_order_waits_for_a_bar_at_or_after_not_before_ts() -> None:
    """Latency: an order due at T0 + 3h ignores the bars of T0 + 1h and T0 + 2h."""
    b = broker()
    order = market(Side.BUY, 1.0, not_before_ts=T0 + 3 * HOUR)
    b.submit(order)
    assert b.fill_market_orders(bar(T0 + HOUR, 105.0, 106.0, 104.0, 105.0), cash=1e6) == []
    assert b.fill_market_orders(bar(T0 + 3 * HOUR - 1, 106.0, 107.0, 105.0, 106.0), cash=1e6) == []
    assert order.status is OrderStatus.OPEN and order.filled_qty == 0.0
    changes = b.drain()
    assert changes.closed == [] and changes.changed == []
    [f] = b.fill_market_orders(bar(T0 + 3 * HOUR, 110.0, 111.0, 109.0, 110.0), cash=1e6)
    assert f.price == pytest.approx(110.0 * (1 + ORDER_SLIP), rel=1e-12)
    assert order.status is OrderStatus.FILLED


def test_fill_ts_is_order_created_ts_when_later_than_the_bar() -> None:
    b = broker()
    order = market(Side.BUY, 1.0, created_ts=T0 + HOUR + 5_000)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1e6)
    assert f.ts == T0 + HOUR + 5_000
    assert order.closed_ts == T0 + HOUR + 5_000


def test_fill_ts_is_the_bar_ts_when_the_order_is_older() -> None:
    b = broker()
    order = market(Side.BUY, 1.0, created_ts=T0 - HOUR)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1e6)
    assert f.ts == NEXT.ts
    assert order.closed_ts == NEXT.ts


def test_buy_larger_than_cash_is_cut_to_what_cash_pays_for_fee_included() -> None:
    b = broker()
    order = market(Side.BUY, 100.0)  # 100 * 105 far exceeds the cash
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1_000.0)
    price = 105.0 * (1 + ORDER_SLIP)
    # Shaved by a billionth so float rounding can never overdraw the cash.
    assert f.qty == pytest.approx(1_000.0 / (price * (1 + FEE)) * (1 - 1e-9), rel=1e-12)
    assert 1_000.0 * (1 - 2e-9) <= f.qty * f.price + f.fee <= 1_000.0
    # The order shrinks to what was bought and is done.
    assert order.qty == pytest.approx(f.qty, rel=1e-12)
    assert order.status is OrderStatus.FILLED
    assert b.drain().closed == [order]


def test_an_entry_cut_below_the_minimum_order_is_refused_not_filled_as_dust() -> None:
    """Two symbols' entries took the cash, and a third's was cut to 7.8e-11
    BTC (5e-6 USDT), filled, given a stop and counted as a round trip."""
    b = PaperBroker(PaperConfig(fee_bps=10.0), HOUR, min_notional=10.0)
    entry = market(Side.BUY, 2.0)
    b.submit(entry)
    assert b.fill_market_orders(NEXT, cash=5.0) == []
    assert entry.status is OrderStatus.REJECTED and b.open_orders == {}
    cover = Order("cover", BTC, Side.BUY, OrderKind.MARKET, 2.0, T0 + HOUR + 5_000, "exit", not_before_ts=T0 + HOUR,
                  slippage_bps=0.0)
    b.submit(cover)
    [f] = b.fill_market_orders(NEXT, cash=5.0)  # an exit is cut to the cash, never refused for its size
    assert 0 < f.qty * f.price < 5.0


def test_buy_within_cash_is_not_cut() -> None:
    b = broker()
    b.submit(market(Side.BUY, 9.0))  # 9 * 105.0735 * 1.001 = 946.6 < 1000
    [f] = b.fill_market_orders(NEXT, cash=1_000.0)
    assert f.qty == 9.0


def test_second_buy_gets_only_the_cash_the_first_left() -> None:
    b = broker()
    b.submit(market(Side.BUY, 5.0, oid="a"))
    b.submit(market(Side.BUY, 5.0, oid="b"))
    first, second = b.fill_market_orders(NEXT, cash=1_000.0)
    price = 105.0 * (1 + ORDER_SLIP)
    assert first.qty == 5.0
    assert second.qty == pytest.approx((1_000.0 - 5.0 * price * (1 + FEE)) / (price * (1 + FEE)), rel=2e-9)


def test_a_sell_before_a_buy_in_the_same_bar_pays_for_it() -> None:
    b = broker()
    b.submit(market(Side.SELL, 2.0, oid="exit"))
    b.submit(market(Side.BUY, 3.0, oid="entry"))
    sell, buy = b.fill_market_orders(NEXT, cash=0.0)
    proceeds = 2.0 * 105.0 * (1 - ORDER_SLIP) * (1 - FEE)
    assert buy.qty == pytest.approx(proceeds / (105.0 * (1 + ORDER_SLIP) * (1 + FEE)), rel=2e-9)


@pytest.mark.parametrize("cash", [0.0, -50.0])
def test_buy_without_cash_is_rejected_and_reported_once(cash: float) -> None:
    b = broker()
    order = market(Side.BUY, 1.0)
    b.submit(order)
    assert b.fill_market_orders(NEXT, cash=cash) == []
    assert order.status is OrderStatus.REJECTED
    assert order.closed_ts == max(NEXT.ts, order.created_ts)
    assert b.open_orders == {}
    changes = b.drain()
    assert changes.closed == [order]
    assert b.drain().closed == []  # drained once
    assert changes.changed == []


def test_drain_reports_filled_orders_once() -> None:
    b = broker()
    order = market(Side.BUY, 1.0)
    b.submit(order)
    b.fill_market_orders(NEXT, cash=1e6)
    assert b.drain().closed == [order]
    assert b.drain().closed == []


def test_a_buy_cut_to_the_cash_does_not_buy_the_rest_on_a_later_bar() -> None:
    b = broker()
    order = market(Side.BUY, 100.0)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1_000.0)  # ~9.5 of the 100 bought
    # Cash arrives later (e.g. another symbol's exit): the cut order must not resume.
    assert b.fill_market_orders(bar(T0 + 2 * HOUR, 130.0, 131.0, 129.0, 130.0), cash=1e6) == []
    assert order.filled_qty == pytest.approx(f.qty)
    assert not order.status.is_open


# -- volume cap ----------------------------------------------------------------------


def test_volume_cap_fills_a_share_of_the_bar_volume_and_leaves_the_rest_open() -> None:
    b = broker(max_volume_share=0.1)
    order = market(Side.BUY, 2.5)
    b.submit(order)
    [f] = b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0, volume=10.0), cash=1e6)
    assert f.qty == pytest.approx(1.0)  # 0.1 * 10
    assert f.fee == pytest.approx(1.0 * 100.0 * (1 + ORDER_SLIP) * FEE, rel=1e-12)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert (order.filled_qty, order.remaining) == (pytest.approx(1.0), pytest.approx(1.5))
    assert b.open_orders == {order.id: order}
    changes = b.drain()
    assert changes.changed == [order]
    assert b.drain().changed == []  # reported once
    assert changes.closed == []

    [f2] = b.fill_market_orders(bar(T0 + 2 * HOUR, 102.0, 103.0, 101.0, 102.0, volume=10.0), cash=1e6)
    assert f2.qty == pytest.approx(1.0)
    assert f2.price == pytest.approx(102.0 * (1 + ORDER_SLIP), rel=1e-12)  # that bar's open
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == pytest.approx(2.0)
    assert b.drain().changed == [order]

    [f3] = b.fill_market_orders(bar(T0 + 3 * HOUR, 104.0, 105.0, 103.0, 104.0, volume=20.0), cash=1e6)
    assert f3.qty == pytest.approx(0.5)  # only the rest, though the bar allows 2
    assert order.status is OrderStatus.FILLED
    assert b.open_orders == {}
    changes = b.drain()
    assert changes.closed == [order]
    assert changes.changed == []  # a closed order is not reported as changed


def test_volume_cap_is_shared_by_the_orders_of_one_bar() -> None:
    b = broker(max_volume_share=0.5)
    first, second = market(Side.BUY, 3.0, oid="a"), market(Side.SELL, 3.0, oid="b")
    b.submit(first)
    b.submit(second)
    fills = b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0, volume=8.0), cash=1e6)  # 4 in all
    assert [(f.order_id, f.qty) for f in fills] == [("a", 3.0), ("b", pytest.approx(1.0))]
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.PARTIALLY_FILLED
    assert b.drain().changed == [second]


def test_a_bar_without_volume_fills_nothing_under_a_cap_and_rejects_nothing() -> None:
    b = broker(max_volume_share=0.5)
    order = market(Side.BUY, 1.0)
    b.submit(order)
    assert b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0, volume=0.0), cash=1e6) == []
    assert order.status is OrderStatus.OPEN
    assert b.drain().closed == []


def test_no_volume_cap_fills_whole_orders_beyond_the_bar_volume() -> None:
    b = broker(max_volume_share=None)
    b.submit(market(Side.SELL, 500.0))
    [f] = b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0, volume=1.0), cash=0.0)
    assert f.qty == 500.0


# -- stops ---------------------------------------------------------------------------


def test_sell_stop_fills_at_the_stop_minus_slippage_when_the_low_reaches_it() -> None:
    b = broker()
    order = stop(95.0, qty=2.0)
    b.submit(order)
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 94.0, 99.0))
    price = 95.0 * (1 - ORDER_SLIP)
    assert f.price == pytest.approx(price, rel=1e-12)
    assert (f.qty, f.side, f.order_id) == (2.0, Side.SELL, order.id)
    assert f.fee == pytest.approx(2.0 * price * FEE, rel=1e-12)  # taker fee
    assert f.ts == T0 + HOUR
    assert order.status is OrderStatus.FILLED
    assert b.drain().closed == [order]


def test_sell_stop_fills_when_the_low_touches_it_exactly() -> None:
    b = broker()
    b.submit(stop(95.0))
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 95.0, 99.0))
    assert f.price == pytest.approx(95.0 * (1 - ORDER_SLIP), rel=1e-12)


def test_sell_stop_does_not_fill_while_the_low_stays_above() -> None:
    b = broker()
    order = stop(95.0)
    b.submit(order)
    assert b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 95.01, 99.0)) == []
    assert order.status is OrderStatus.OPEN
    assert b.orders(BTC, OrderKind.STOP) == [order]
    assert b.drain().closed == []


def test_sell_stop_gapped_through_fills_at_the_open_not_the_stop() -> None:
    b = broker()
    b.submit(stop(95.0))
    [f] = b.trigger_protective(bar(T0 + HOUR, 90.0, 93.0, 88.0, 92.0))
    assert f.price == pytest.approx(90.0 * (1 - ORDER_SLIP), rel=1e-12)


def test_buy_stop_of_a_short_fills_at_the_stop_plus_slippage_when_the_high_reaches_it() -> None:
    b = broker()
    order = stop(105.0, side=Side.BUY, qty=3.0)
    b.submit(order)
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 106.0, 99.0, 104.0))
    price = 105.0 * (1 + ORDER_SLIP)
    assert f.price == pytest.approx(price, rel=1e-12)
    assert (f.qty, f.side) == (3.0, Side.BUY)
    assert f.fee == pytest.approx(3.0 * price * FEE, rel=1e-12)
    assert order.status is OrderStatus.FILLED


def test_buy_stop_gapped_through_fills_at_the_open_plus_slippage() -> None:
    b = broker()
    b.submit(stop(105.0, side=Side.BUY))
    [f] = b.trigger_protective(bar(T0 + HOUR, 110.0, 112.0, 108.0, 111.0))
    assert f.price == pytest.approx(110.0 * (1 + ORDER_SLIP), rel=1e-12)


def test_buy_stop_does_not_fill_while_the_high_stays_below() -> None:
    b = broker()
    order = stop(105.0, side=Side.BUY)
    b.submit(order)
    assert b.trigger_protective(bar(T0 + HOUR, 100.0, 104.99, 90.0, 101.0)) == []  # even a crash
    assert order.status is OrderStatus.OPEN


def test_stop_fills_its_whole_remaining_qty_regardless_of_the_volume_cap() -> None:
    b = broker(max_volume_share=0.01)
    b.submit(stop(95.0, qty=50.0))
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 90.0, 92.0, volume=1.0))
    assert f.qty == 50.0


# -- take-profit limits ------------------------------------------------------------------


def test_sell_take_profit_fills_at_its_limit_with_the_maker_fee_and_no_slippage() -> None:
    b = broker()
    order = take_profit(110.0, qty=2.0, slippage_bps=30.0)  # any slippage on a limit is ignored
    b.submit(order)
    [f] = b.trigger_protective(bar(T0 + HOUR, 105.0, 111.0, 104.0, 108.0))
    assert f.price == 110.0
    assert f.fee == pytest.approx(2.0 * 110.0 * MAKER, rel=1e-12)
    assert (f.side, f.qty) == (Side.SELL, 2.0)
    assert order.status is OrderStatus.FILLED


def test_sell_take_profit_fills_at_a_better_open() -> None:
    b = broker()
    b.submit(take_profit(110.0))
    [f] = b.trigger_protective(bar(T0 + HOUR, 115.0, 116.0, 112.0, 113.0))
    assert f.price == 115.0  # max(open, limit)
    assert f.fee == pytest.approx(115.0 * MAKER, rel=1e-12)


def test_sell_take_profit_waits_while_the_high_stays_below() -> None:
    b = broker()
    order = take_profit(110.0)
    b.submit(order)
    assert b.trigger_protective(bar(T0 + HOUR, 105.0, 109.99, 104.0, 108.0)) == []
    assert order.status is OrderStatus.OPEN


def test_buy_take_profit_of_a_short_fills_at_min_of_open_and_limit() -> None:
    b = broker()
    b.submit(take_profit(90.0, side=Side.BUY))
    [f] = b.trigger_protective(bar(T0 + HOUR, 95.0, 96.0, 89.0, 91.0))
    assert f.price == 90.0
    b2 = broker()
    b2.submit(take_profit(90.0, side=Side.BUY))
    [g] = b2.trigger_protective(bar(T0 + HOUR, 85.0, 88.0, 84.0, 86.0))
    assert g.price == 85.0
    assert g.fee == pytest.approx(85.0 * MAKER, rel=1e-12)


# -- groups: one protective fill cancels the others -----------------------------------------


def test_when_a_bar_reaches_both_the_stop_fills_and_the_take_profit_is_canceled() -> None:
    b = broker()
    s = stop(95.0, qty=2.0, group="g1")
    tp = take_profit(110.0, qty=2.0, group="g1")
    b.submit(s)
    b.submit(tp)
    fills = b.trigger_protective(bar(T0 + HOUR, 100.0, 112.0, 94.0, 100.0))
    assert [(f.order_id, f.price) for f in fills] == [(s.id, pytest.approx(95.0 * (1 - ORDER_SLIP)))]
    assert s.status is OrderStatus.FILLED
    assert tp.status is OrderStatus.CANCELED
    assert tp.closed_ts == T0 + HOUR
    assert b.open_orders == {}
    assert set(o.id for o in b.drain().closed) == {s.id, tp.id}


def test_the_take_profit_filling_cancels_the_stop_of_its_group() -> None:
    b = broker()
    s = stop(95.0, group="g1")
    tp = take_profit(110.0, group="g1")
    b.submit(s)
    b.submit(tp)
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 112.0, 99.0, 111.0))
    assert f.order_id == tp.id
    assert s.status is OrderStatus.CANCELED
    assert b.open_orders == {}


def test_a_fill_cancels_only_its_own_group() -> None:
    b = broker()
    s = stop(95.0, group="g1")
    other_tp = take_profit(150.0, group="g2")
    b.submit(s)
    b.submit(other_tp)
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 94.0, 96.0))
    assert f.order_id == s.id
    assert other_tp.status is OrderStatus.OPEN
    assert b.open_orders == {other_tp.id: other_tp}


def test_an_ungrouped_stop_fill_cancels_nothing() -> None:
    b = broker()
    s = stop(95.0)
    tp = take_profit(150.0)
    b.submit(s)
    b.submit(tp)
    b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 94.0, 96.0))
    assert tp.status is OrderStatus.OPEN


# -- re-pricing, resizing, cancelling ---------------------------------------------------------


def test_move_stop_changes_the_trigger_and_is_reported_as_changed() -> None:
    b = broker()
    order = stop(95.0)
    b.submit(order)
    b.move_stop(order.id, 98.0)
    assert order.stop_price == 98.0
    assert b.drain().changed == [order]
    assert b.drain().changed == []
    # The moved level governs: a low of 97 reaches 98, not the old 95.
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 97.0, 99.0))
    assert f.price == pytest.approx(98.0 * (1 - ORDER_SLIP), rel=1e-12)


def test_resize_makes_the_order_cover_the_new_remaining_qty() -> None:
    b = broker()
    order = stop(95.0, qty=1.0)
    b.submit(order)
    b.resize(order.id, 3.0)
    assert (order.qty, order.remaining) == (3.0, 3.0)
    assert b.drain().changed == [order]
    [f] = b.trigger_protective(bar(T0 + HOUR, 100.0, 101.0, 90.0, 92.0))
    assert f.qty == 3.0


def test_resize_of_a_partly_filled_order_keeps_what_was_filled() -> None:
    b = broker(max_volume_share=0.1)
    order = market(Side.SELL, 4.0)
    b.submit(order)
    b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0, volume=10.0), cash=0.0)  # 1 filled
    b.drain()
    b.resize(order.id, 2.0)
    assert (order.filled_qty, order.qty, order.remaining) == (pytest.approx(1.0), pytest.approx(3.0),
                                                             pytest.approx(2.0))
    assert b.drain().changed == [order]


def test_cancel_closes_the_order_as_canceled_and_it_never_fills() -> None:
    b = broker()
    order = stop(95.0)
    b.submit(order)
    b.move_stop(order.id, 96.0)  # changed, then closed: only the close is reported
    assert b.cancel(order.id, ts=T0 + 2 * HOUR) is order
    assert order.status is OrderStatus.CANCELED
    assert order.closed_ts == T0 + 2 * HOUR
    assert b.open_orders == {}
    changes = b.drain()
    assert changes.closed == [order]
    assert changes.changed == []
    assert b.trigger_protective(bar(T0 + 3 * HOUR, 50.0, 51.0, 40.0, 45.0)) == []


def test_cancel_of_an_unknown_order_returns_none() -> None:
    assert broker().cancel("nope", ts=T0) is None


# -- separation of kinds and symbols ------------------------------------------------------------


def test_market_fills_do_not_touch_protective_orders_and_vice_versa() -> None:
    b = broker()
    m, s, tp = market(Side.BUY, 1.0), stop(200.0), take_profit(50.0, side=Side.SELL)
    for order in (m, s, tp):
        b.submit(order)
    assert [f.order_id for f in b.fill_market_orders(NEXT, cash=1e6)] == [m.id]
    assert s.status is OrderStatus.OPEN and tp.status is OrderStatus.OPEN
    b.submit(market(Side.BUY, 1.0, oid="m2"))
    fired = [f.order_id for f in b.trigger_protective(NEXT)]
    assert fired == [s.id, tp.id]
    assert "m2" in b.open_orders


def test_orders_of_other_symbols_are_untouched() -> None:
    b = broker()
    eth_market = market(Side.BUY, 1.0, symbol=ETH)
    eth_stop = stop(1_000.0, symbol=ETH)  # far above the BTC bar's low
    eth_tp = take_profit(1.0, symbol=ETH)  # far below the BTC bar's high
    for order in (eth_market, eth_stop, eth_tp):
        b.submit(order)
    assert b.fill_market_orders(NEXT, cash=1e6) == []
    assert b.trigger_protective(NEXT) == []
    assert all(o.status is OrderStatus.OPEN and o.filled_qty == 0.0 for o in (eth_market, eth_stop, eth_tp))
    assert set(b.open_orders) == {eth_market.id, eth_stop.id, eth_tp.id}
    changes = b.drain()
    assert changes.closed == [] and changes.changed == []
    assert b.orders(BTC) == []
    assert b.orders(ETH, OrderKind.STOP) == [eth_stop]
    assert b.orders(ETH, OrderKind.LIMIT) == [eth_tp]


# -- the venue's fill models: latency and slippage set when an order arrives ------------------------


def decided(side: Side, kind: OrderKind = OrderKind.MARKET, reason: str = "entry") -> Order:
    """An order as the risk manager makes it: no venue figures of its own."""
    return Order(f"{BTC}:{T0}:{reason}", BTC, side, kind, 1.0, T0 + HOUR + 5_000, reason,
                 stop_price=95.0 if kind is OrderKind.STOP else None,
                 limit_price=110.0 if kind is OrderKind.LIMIT else None)


@pytest.mark.parametrize("latency, timeframe_ms, due", [
    (0, HOUR, T0 + HOUR), (2, HOUR, T0 + 3 * HOUR), (0, 4 * HOUR, T0 + 4 * HOUR), (1, 15 * 60_000, T0 + 30 * 60_000),
])
def test_market_orders_are_due_after_the_bar_plus_latency(latency: int, timeframe_ms: int, due: int) -> None:
    b = PaperBroker(PaperConfig(latency_bars=latency), timeframe_ms)
    b.observe(bar(T0, 100.0, 101.0, 99.0, 100.0), None)  # the bar at whose close the orders were decided
    orders = [decided(Side.BUY), decided(Side.SELL, reason="exit"), decided(Side.SELL, reason="kill_switch")]
    for order in orders:
        b.submit(order)
    assert [o.not_before_ts for o in orders] == [due, due, due]


def test_market_slippage_is_base_plus_volatility_factor_times_volatility_in_bps() -> None:
    b = PaperBroker(PaperConfig(slippage_bps=5.0, slippage_volatility_factor=0.5), HOUR)
    b.observe(bar(T0, 100.0, 101.0, 99.0, 100.0), 0.002)  # 20 bps of volatility
    entry, exit_ = decided(Side.BUY), decided(Side.SELL, reason="exit")
    b.submit(entry)
    b.submit(exit_)
    assert entry.slippage_bps == pytest.approx(5.0 + 0.5 * 20.0)
    assert exit_.slippage_bps == pytest.approx(15.0)
    b.observe(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0), None)  # before warm-up: no volatility yet
    plain = decided(Side.BUY)
    b.submit(plain)
    assert plain.slippage_bps == pytest.approx(5.0)


def test_no_fill_slips_by_more_than_half_its_price_however_volatile_the_market() -> None:
    """A volatility factor of 100 on a market moving 5% a bar asked for 50,000
    bps: a sell filled at -66,628 with a negative fee, and a spot account
    ended at -9,200."""
    b = PaperBroker(PaperConfig(slippage_bps=5.0, slippage_volatility_factor=100.0), HOUR)
    b.observe(bar(T0, 100.0, 101.0, 99.0, 100.0), 0.05)
    entry, exit_ = decided(Side.BUY), decided(Side.SELL, reason="exit")
    b.submit(entry)
    b.submit(exit_)
    assert (entry.slippage_bps, exit_.slippage_bps) == (5_000.0, 5_000.0)
    bought, sold = b.fill_market_orders(bar(T0 + HOUR, 100.0, 101.0, 99.0, 100.0), cash=1_000_000.0)
    assert (bought.price, sold.price) == (pytest.approx(150.0), pytest.approx(50.0))
    assert sold.fee > 0 and bought.fee > 0


def test_a_stop_slips_by_the_base_and_a_take_profit_not_at_all() -> None:
    b = PaperBroker(PaperConfig(slippage_bps=5.0, slippage_volatility_factor=0.5), HOUR)
    b.observe(bar(T0, 100.0, 101.0, 99.0, 100.0), 0.002)
    stop_, tp = decided(Side.SELL, OrderKind.STOP, "stop_loss"), decided(Side.SELL, OrderKind.LIMIT, "take_profit")
    b.submit(stop_)
    b.submit(tp)
    assert (stop_.slippage_bps, tp.slippage_bps) == (5.0, 0.0)
