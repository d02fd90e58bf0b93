"""Tests for bot.risk.RiskManager: entry sizing, exits, stops and order ids."""

from __future__ import annotations

import pytest

from bot.config import RiskConfig
from bot.domain import Bar, Fill, OrderKind, Side, Signal
from bot.ledger import Ledger
from bot.risk import RiskManager

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
T0 = 1_699_999_200_000  # an hour boundary
NOW = T0 + HOUR + 5_000  # the bar closed, then the decision
CONFIG = RiskConfig(max_position_fraction=0.5, stop_loss_pct=0.03)


def bar(ts: int = T0, close: float = 200.0, symbol: str = BTC) -> Bar:
    return Bar(symbol, ts, close, close, close, close, 1.0)


def long_ledger(qty: float, cash: float = 10_000.0) -> Ledger:
    ledger = Ledger(cash=cash)
    ledger.apply(Fill("seed", BTC, Side.BUY, qty, 100.0, 0.0, T0 - HOUR))
    return ledger


@pytest.mark.parametrize("target", [1.0, 0.4])
def test_entry_size_is_target_times_fraction_times_equity_over_close(target: float) -> None:
    order = RiskManager(CONFIG).order_for(Signal(target), bar(close=200.0), Ledger(cash=10_000.0), NOW)
    assert order is not None
    assert order.qty == pytest.approx(target * 0.5 * 10_000.0 / 200.0)
    assert (order.side, order.kind, order.symbol) == (Side.BUY, OrderKind.MARKET, BTC)
    assert order.reason == "entry"
    assert order.created_ts == NOW


def test_entry_is_sized_on_equity_not_cash() -> None:
    """Another symbol's marked position counts toward the equity."""
    ledger = Ledger(cash=10_000.0)
    ledger.apply(Fill("eth", ETH, Side.BUY, 10.0, 50.0, 0.0, T0))
    ledger.mark(ETH, 40.0)  # equity: cash 9500 + 10 * 40 = 9900
    order = RiskManager(CONFIG).order_for(Signal(1.0), bar(close=200.0), ledger, NOW)
    assert order.qty == pytest.approx(0.5 * 9_900.0 / 200.0)


@pytest.mark.parametrize("held", [0.0, 2.0])
def test_no_order_when_target_is_none(held: float) -> None:
    ledger = long_ledger(held) if held else Ledger(cash=10_000.0)
    assert RiskManager(CONFIG).order_for(Signal(None), bar(), ledger, NOW) is None


def test_no_second_entry_when_already_long() -> None:
    assert RiskManager(CONFIG).order_for(Signal(1.0), bar(), long_ledger(2.0), NOW) is None


def test_no_exit_when_flat() -> None:
    assert RiskManager(CONFIG).order_for(Signal(0.0), bar(), Ledger(cash=10_000.0), NOW) is None


def test_exit_sells_the_whole_holding() -> None:
    order = RiskManager(CONFIG).order_for(Signal(0.0), bar(), long_ledger(3.25), NOW)
    assert order is not None
    assert (order.side, order.kind, order.qty, order.reason) == (Side.SELL, OrderKind.MARKET, 3.25, "exit")


def test_stop_sits_stop_loss_pct_below_the_fill_with_the_fill_qty() -> None:
    entry = Fill(f"{BTC}:{T0}:entry", BTC, Side.BUY, 2.5, 200.0, 0.5, NOW)
    order = RiskManager(CONFIG).stop_for(entry)
    assert order.stop_price == pytest.approx(200.0 * (1 - 0.03))  # 194
    assert order.qty == 2.5
    assert (order.side, order.kind, order.symbol) == (Side.SELL, OrderKind.STOP, BTC)
    assert order.created_ts == NOW


def test_order_ids_are_deterministic() -> None:
    """Two managers over two equal ledgers give the same id for the same bar."""
    first = RiskManager(CONFIG).order_for(Signal(1.0), bar(), Ledger(cash=10_000.0), NOW)
    second = RiskManager(CONFIG).order_for(Signal(1.0), bar(), Ledger(cash=10_000.0), NOW)
    assert first.id == second.id


def test_order_ids_differ_by_bar() -> None:
    risk = RiskManager(CONFIG)
    a = risk.order_for(Signal(1.0), bar(ts=T0), Ledger(cash=10_000.0), NOW)
    b = risk.order_for(Signal(1.0), bar(ts=T0 + HOUR), Ledger(cash=10_000.0), NOW + HOUR)
    assert a.id != b.id


def test_order_ids_differ_by_intent_on_the_same_bar() -> None:
    risk = RiskManager(CONFIG)
    entry = risk.order_for(Signal(1.0), bar(), Ledger(cash=10_000.0), NOW)
    exit_ = risk.order_for(Signal(0.0), bar(), long_ledger(1.0), NOW)
    stop = risk.stop_for(Fill(entry.id, BTC, Side.BUY, 1.0, 200.0, 0.0, T0))
    assert len({entry.id, exit_.id, stop.id}) == 3


def test_order_ids_differ_by_symbol() -> None:
    risk = RiskManager(CONFIG)
    a = risk.order_for(Signal(1.0), bar(symbol=BTC), Ledger(cash=10_000.0), NOW)
    b = risk.order_for(Signal(1.0), bar(symbol=ETH), Ledger(cash=10_000.0), NOW)
    assert a.id != b.id
