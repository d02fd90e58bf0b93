"""Tests for bot.broker.PaperBroker: market fills at the next open, slippage,
fees, cash limits, stops and gaps, cancellation."""

from __future__ import annotations

import pytest

from bot.broker import PaperBroker
from bot.domain import Bar, Order, OrderKind, OrderStatus, Side

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR  # an hour boundary
FEE_BPS, SLIP_BPS = 10.0, 5.0
FEE, SLIP = 0.001, 0.0005  # the same, as fractions


def broker() -> PaperBroker:
    return PaperBroker(fee_bps=FEE_BPS, slippage_bps=SLIP_BPS)


def bar(ts: int, o: float, h: float, low: float, c: float, symbol: str = BTC) -> Bar:
    return Bar(symbol, ts, o, h, low, c, 10.0)


def market(side: Side, qty: float, created_ts: int, symbol: str = BTC, oid: str | None = None) -> Order:
    return Order(oid or f"{symbol}:{created_ts}:{side.value}", symbol, side, OrderKind.MARKET, qty, created_ts, "test")


def stop(price: float, qty: float = 1.0, created_ts: int = T0, symbol: str = BTC) -> Order:
    return Order(f"{symbol}:{created_ts}:stop", symbol, Side.SELL, OrderKind.STOP, qty, created_ts, "stop_loss",
                 stop_price=price)


# Decided a few seconds after the T0 bar closed, filled on the next bar (opens T0 + HOUR).
DECIDED = T0 + HOUR + 5_000
NEXT = bar(T0 + HOUR, 105.0, 112.0, 101.0, 108.0)


def test_market_buy_fills_at_next_open_plus_slippage_and_pays_fee() -> None:
    b = broker()
    order = market(Side.BUY, 2.0, DECIDED)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1_000_000.0)
    price = 105.0 * (1 + SLIP)  # the open, not the close (108) of the bar
    assert f.price == pytest.approx(price)
    assert f.qty == 2.0
    assert f.fee == pytest.approx(2.0 * price * FEE)
    assert (f.order_id, f.symbol, f.side) == (order.id, BTC, Side.BUY)
    assert order.status is OrderStatus.FILLED
    assert b.open_orders == {}


def test_market_sell_fills_at_open_minus_slippage() -> None:
    b = broker()
    b.submit(market(Side.SELL, 1.5, DECIDED))
    [f] = b.fill_market_orders(NEXT, cash=0.0)  # a sell needs no cash
    assert f.price == pytest.approx(105.0 * (1 - SLIP))
    assert f.fee == pytest.approx(1.5 * 105.0 * (1 - SLIP) * FEE)


def test_fill_ts_is_order_created_ts_when_later_than_bar() -> None:
    b = broker()
    order = market(Side.BUY, 1.0, DECIDED)
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1e6)
    assert f.ts == DECIDED
    assert order.closed_ts == DECIDED


def test_fill_ts_is_bar_ts_when_order_is_older() -> None:
    b = broker()
    b.submit(market(Side.BUY, 1.0, T0 - HOUR))
    [f] = b.fill_market_orders(NEXT, cash=1e6)
    assert f.ts == NEXT.ts


def test_buy_larger_than_cash_is_cut_to_what_cash_pays_for() -> None:
    b = broker()
    order = market(Side.BUY, 100.0, DECIDED)  # 100 * 105 far exceeds the cash
    b.submit(order)
    [f] = b.fill_market_orders(NEXT, cash=1_000.0)
    price = 105.0 * (1 + SLIP)
    assert f.qty == pytest.approx(1_000.0 / (price * (1 + FEE)))
    assert f.qty * f.price + f.fee == pytest.approx(1_000.0)
    assert order.status is OrderStatus.FILLED


def test_buy_within_cash_is_not_cut() -> None:
    b = broker()
    b.submit(market(Side.BUY, 9.0, DECIDED))  # 9 * 105.05 * 1.001 = 946.4 < 1000
    [f] = b.fill_market_orders(NEXT, cash=1_000.0)
    assert f.qty == 9.0


def test_second_buy_gets_only_the_cash_the_first_left() -> None:
    b = broker()
    b.submit(market(Side.BUY, 5.0, DECIDED, oid="a"))
    b.submit(market(Side.BUY, 5.0, DECIDED, oid="b"))
    first, second = b.fill_market_orders(NEXT, cash=1_000.0)
    price = 105.0 * (1 + SLIP)
    assert first.qty == 5.0
    assert second.qty == pytest.approx((1_000.0 - 5.0 * price * (1 + FEE)) / (price * (1 + FEE)))


@pytest.mark.parametrize("cash", [0.0, -50.0])
def test_buy_without_cash_is_rejected_and_reported(cash: float) -> None:
    b = broker()
    order = market(Side.BUY, 1.0, DECIDED)
    b.submit(order)
    assert b.fill_market_orders(NEXT, cash=cash) == []
    assert order.status is OrderStatus.REJECTED
    assert b.open_orders == {}
    assert b.drain_closed() == [order]
    assert b.drain_closed() == []  # drained once


def test_drain_closed_reports_filled_orders_once() -> None:
    b = broker()
    order = market(Side.BUY, 1.0, DECIDED)
    b.submit(order)
    b.fill_market_orders(NEXT, cash=1e6)
    assert b.drain_closed() == [order]
    assert b.drain_closed() == []


def test_stop_fills_at_stop_price_minus_slippage_when_low_reaches_it() -> None:
    b = broker()
    order = stop(95.0, qty=2.0)
    b.submit(order)
    [f] = b.trigger_stops(bar(T0 + HOUR, 100.0, 101.0, 94.0, 99.0))
    assert f.price == pytest.approx(95.0 * (1 - SLIP))
    assert f.qty == 2.0
    assert f.side is Side.SELL
    assert f.fee == pytest.approx(2.0 * 95.0 * (1 - SLIP) * FEE)
    assert f.ts == T0 + HOUR
    assert order.status is OrderStatus.FILLED


def test_stop_fills_when_low_touches_it_exactly() -> None:
    b = broker()
    b.submit(stop(95.0))
    [f] = b.trigger_stops(bar(T0 + HOUR, 100.0, 101.0, 95.0, 99.0))
    assert f.price == pytest.approx(95.0 * (1 - SLIP))


def test_stop_does_not_fill_while_low_stays_above() -> None:
    b = broker()
    order = stop(95.0)
    b.submit(order)
    assert b.trigger_stops(bar(T0 + HOUR, 100.0, 101.0, 95.01, 99.0)) == []
    assert order.status is OrderStatus.OPEN
    assert b.resting_stop(BTC) is order


def test_gap_below_stop_fills_at_the_open() -> None:
    b = broker()
    b.submit(stop(95.0))
    [f] = b.trigger_stops(bar(T0 + HOUR, 90.0, 93.0, 88.0, 92.0))
    assert f.price == pytest.approx(90.0 * (1 - SLIP))


def test_market_orders_are_not_filled_by_trigger_stops_nor_stops_by_market_fills() -> None:
    b = broker()
    m, s = market(Side.BUY, 1.0, DECIDED), stop(200.0)
    b.submit(m)
    b.submit(s)
    assert [f.order_id for f in b.fill_market_orders(NEXT, cash=1e6)] == [m.id]
    assert [f.order_id for f in b.trigger_stops(NEXT)] == [s.id]


def test_cancel_closes_the_order_as_canceled() -> None:
    b = broker()
    order = stop(95.0)
    b.submit(order)
    assert b.cancel(order.id, ts=T0 + 2 * HOUR) is order
    assert order.status is OrderStatus.CANCELED
    assert order.closed_ts == T0 + 2 * HOUR
    assert b.open_orders == {}
    assert b.drain_closed() == [order]
    assert b.trigger_stops(bar(T0 + 3 * HOUR, 50.0, 51.0, 40.0, 45.0)) == []


def test_cancel_of_unknown_order_returns_none() -> None:
    assert broker().cancel("nope", ts=T0) is None


def test_orders_of_other_symbols_are_untouched() -> None:
    b = broker()
    eth_market = market(Side.BUY, 1.0, DECIDED, symbol=ETH)
    eth_stop = stop(1_000.0, symbol=ETH)  # far above the BTC bar's low
    b.submit(eth_market)
    b.submit(eth_stop)
    assert b.fill_market_orders(NEXT, cash=1e6) == []
    assert b.trigger_stops(NEXT) == []
    assert eth_market.status is OrderStatus.OPEN and eth_stop.status is OrderStatus.OPEN
    assert set(b.open_orders) == {eth_market.id, eth_stop.id}
    assert b.drain_closed() == []
    assert b.resting_stop(BTC) is None
    assert b.resting_stop(ETH) is eth_stop
