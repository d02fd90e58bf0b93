"""Tests for bot.risk.RiskManager: entry sizing and its caps, exits, shorts,
blocks and their events, order ids, protective orders, trailing stops and
the account guards, one call at a time (the engine-level scenarios are in
test_risk_scenarios.py). No broker: the manager reads a frozen BookView and
returns commands, which `Working` below applies to the test's own orders.
How the paper broker prices and times the orders is in test_paper_broker.py."""

from __future__ import annotations

import math

import pytest

from bot.book_view import BookView
from bot.config import PaperConfig, RiskConfig
from bot.domain import Bar, Fill, Order, OrderKind, OrderStatus, Side, Signal
from bot.ledger import Ledger
from bot.risk import RiskManager
from bot.risk.commands import Cancel, Decision, MoveStop, Resize, Submit
from bot.risk.state import RiskState, TradingState

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_699_999_200_000  # an hour boundary (2023-11-14T22:00Z)
NOW = T0 + HOUR + 5_000  # the T0 bar closed, then the decision
RISK = RiskConfig(max_position_fraction=0.5, stop_loss_pct=0.03, min_order_notional=10.0)
PAPER = PaperConfig(fee_bps=10.0, slippage_bps=5.0)


def manager(risk: RiskConfig = RISK, paper: PaperConfig = PAPER, timeframe: str = "1h",
            state: RiskState | None = None) -> RiskManager:
    return RiskManager(risk, paper, timeframe, state)


def bar(ts: int = T0, close: float = 200.0, symbol: str = BTC) -> Bar:
    return Bar(symbol, ts, close, close, close, close, 1.0)


def flat(cash: float = 10_000.0, allow_short: bool = False) -> Ledger:
    return Ledger(cash=cash, allow_short=allow_short)


def holding(qty: float, price: float = 200.0, symbol: str = BTC, cash: float = 10_000.0,
            allow_short: bool = False) -> Ledger:
    """A ledger holding `qty` (negative: short) of `symbol`, marked at `price`."""
    ledger = Ledger(cash=cash, allow_short=allow_short)
    side = Side.BUY if qty > 0 else Side.SELL
    ledger.apply(Fill("seed", symbol, side, abs(qty), price, 0.0, T0 - HOUR))
    ledger.mark(symbol, price)
    return ledger


class Working:
    """The orders a test keeps resting, changed by the commands a decision
    returns exactly as the engine has a broker change them."""

    def __init__(self, orders: list[Order] | None = None) -> None:
        self.orders = list(orders or [])

    def view(self) -> BookView:
        return BookView.of(self.orders)

    def apply(self, d: Decision) -> Decision:
        for c in d.commands:
            match c:
                case Submit(order):
                    self.orders.append(order)
                case Cancel(order_id, _):
                    self.orders = [o for o in self.orders if o.id != order_id]
                case Resize(order_id, remaining):
                    self.get(order_id).qty = self.get(order_id).filled_qty + remaining
                case MoveStop(order_id, stop_price):
                    self.get(order_id).stop_price = stop_price
        return d

    def get(self, order_id: str) -> Order:
        [order] = [o for o in self.orders if o.id == order_id]
        return order

    def of(self, kind: OrderKind | None = None) -> list[Order]:
        return [o for o in self.orders if kind is None or o.kind is kind]


def decide(risk: RiskManager, target: float | None, ledger: Ledger, b: Bar | None = None,
           book: BookView | None = None, now: int | None = None, volatility: float | None = None):
    b = b or bar()
    return risk.orders_for(Signal(target), b, ledger, book or BookView(), NOW if now is None else now, volatility)


def blocked(decision) -> list[str]:
    return [e.message for e in decision.events if e.kind == "order_blocked"]


# -- sizing ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [1.0, 0.4])
def test_entry_size_is_target_times_fraction_times_equity_over_close(target: float) -> None:
    d = decide(manager(), target, flat())
    [order] = d.orders
    assert order.qty == pytest.approx(target * 0.5 * 10_000.0 / 200.0, rel=1e-12)
    assert (order.side, order.kind, order.symbol, order.reason) == (Side.BUY, OrderKind.MARKET, BTC, "entry")
    assert order.created_ts == NOW
    assert order.status is OrderStatus.OPEN and order.filled_qty == 0.0
    assert d.events == []


def test_entry_is_sized_on_equity_not_cash() -> None:
    """Another symbol's marked position counts toward the equity."""
    ledger = holding(10.0, price=50.0, symbol=ETH)
    ledger.mark(ETH, 40.0)  # equity: cash 9500 + 10 * 40 = 9900
    [order] = decide(manager(), 1.0, ledger).orders
    assert order.qty == pytest.approx(0.5 * 9_900.0 / 200.0, rel=1e-12)


def test_entry_is_capped_by_max_symbol_fraction() -> None:
    risk = manager(RiskConfig(max_position_fraction=1.0, max_symbol_fraction=0.3, stop_loss_pct=0.03))
    [order] = decide(risk, 1.0, flat()).orders
    assert order.qty == pytest.approx(0.3 * 10_000.0 / 200.0, rel=1e-12)


def test_a_symbols_own_limits_size_its_entries_and_no_other() -> None:
    """risk.per_symbol gives BTC a smaller share; ETH keeps the section's."""
    from bot.config import SymbolRiskConfig

    limits = RiskConfig(max_position_fraction=0.5, stop_loss_pct=0.03,
                        per_symbol={BTC: SymbolRiskConfig(max_position_fraction=0.1, max_symbol_fraction=0.08)})
    [btc] = decide(manager(limits), 1.0, flat()).orders
    assert btc.qty == pytest.approx(0.08 * 10_000.0 / 200.0, rel=1e-12)  # its own cap binds before its 0.1
    [eth] = decide(manager(limits), 1.0, flat(), b=bar(symbol=ETH)).orders
    assert eth.symbol == ETH and eth.qty == pytest.approx(0.5 * 10_000.0 / 200.0, rel=1e-12)


def test_entry_is_capped_by_what_the_gross_exposure_limit_leaves() -> None:
    ledger = holding(40.0, price=100.0, symbol=ETH)  # 4,000 of 10,000 equity already exposed
    risk = manager(RiskConfig(max_position_fraction=0.5, max_gross_exposure=0.5, stop_loss_pct=0.03))
    [order] = decide(risk, 1.0, ledger).orders
    assert order.qty == pytest.approx((0.5 * 10_000.0 - 4_000.0) / 200.0, rel=1e-12)  # 5


def test_short_exposure_counts_toward_the_gross_limit() -> None:
    ledger = holding(-40.0, price=100.0, symbol=ETH, allow_short=True)  # equity 10,000; gross 4,000
    risk = manager(RiskConfig(max_position_fraction=0.5, max_gross_exposure=0.5, stop_loss_pct=0.03),
                   PaperConfig(allow_short=True))
    [order] = decide(risk, 1.0, ledger).orders
    assert order.qty == pytest.approx(1_000.0 / 200.0, rel=1e-12)


def test_no_room_under_the_gross_limit_blocks_the_entry_as_under_the_minimum() -> None:
    ledger = holding(50.0, price=100.0, symbol=ETH)
    risk = manager(RiskConfig(max_position_fraction=0.5, max_gross_exposure=0.5, stop_loss_pct=0.03))
    d = decide(risk, 1.0, ledger)
    assert d.orders == []
    [message] = blocked(d)
    assert "under the minimum" in message


@pytest.mark.parametrize("timeframe", ["1h", "4h", "1d"])
def test_volatility_targeting_scales_the_entry_down(timeframe: str) -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, target_volatility=0.5, stop_loss_pct=0.03),
                   timeframe=timeframe)
    bars_per_year = 365 * DAY / {"1h": HOUR, "4h": 4 * HOUR, "1d": DAY}[timeframe]
    vol = 0.05  # per bar: annualised far above 0.5 on every timeframe here
    scale = 0.5 / (vol * math.sqrt(bars_per_year))
    assert scale < 1
    [order] = decide(risk, 1.0, flat(), volatility=vol).orders
    assert order.qty == pytest.approx(0.5 * 10_000.0 * scale / 200.0, rel=1e-12)


def test_volatility_targeting_never_scales_up() -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, target_volatility=0.5, stop_loss_pct=0.03))
    # 0.001 per hour is 0.094 a year: the target is 5x that, the size stays the plain fraction.
    [order] = decide(risk, 1.0, flat(), volatility=0.001).orders
    assert order.qty == pytest.approx(0.5 * 10_000.0 / 200.0, rel=1e-12)


@pytest.mark.parametrize("volatility", [None, 0.0])
def test_volatility_targeting_without_a_volatility_uses_the_plain_fraction(volatility) -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, target_volatility=0.5, stop_loss_pct=0.03))
    [order] = decide(risk, 1.0, flat(), volatility=volatility).orders
    assert order.qty == pytest.approx(25.0, rel=1e-12)


def test_volatility_without_a_target_does_not_change_the_size() -> None:
    [order] = decide(manager(), 1.0, flat(), volatility=0.2).orders
    assert order.qty == pytest.approx(25.0, rel=1e-12)


def test_min_order_notional_blocks_with_an_order_blocked_event() -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, min_order_notional=100.0, stop_loss_pct=0.03))
    d = decide(risk, 0.01, flat())  # 0.01 * 0.5 * 10,000 = 50 < 100
    assert d.orders == []
    [event] = d.events
    assert (event.kind, event.level, event.symbol, event.ts) == ("order_blocked", "warning", BTC, T0)
    assert "50.00" in event.message and "100.00" in event.message


def test_an_entry_at_exactly_the_minimum_notional_is_allowed() -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, min_order_notional=50.0, stop_loss_pct=0.03))
    [order] = decide(risk, 0.01, flat()).orders
    assert order.qty * 200.0 == pytest.approx(50.0)


# -- exits, holds, shorts -------------------------------------------------------------------


@pytest.mark.parametrize("held", [0.0, 2.0])
def test_no_order_when_the_target_is_none(held: float) -> None:
    ledger = holding(held) if held else flat()
    d = decide(manager(), None, ledger)
    assert d.orders == [] and d.events == []


def test_no_second_entry_when_already_long() -> None:
    d = decide(manager(), 1.0, holding(2.0))
    assert d.orders == [] and d.events == []


def test_no_exit_when_flat() -> None:
    assert decide(manager(), 0.0, flat()).orders == []


def test_exit_sells_the_whole_holding() -> None:
    [order] = decide(manager(), 0.0, holding(3.25)).orders
    assert (order.side, order.kind, order.qty, order.reason) == (Side.SELL, OrderKind.MARKET, 3.25, "exit")
    assert order.id == f"{BTC}:{T0}:exit"


def test_spot_mode_negative_target_on_flat_does_nothing() -> None:
    d = decide(manager(), -1.0, flat())
    assert d.orders == [] and d.events == []


def test_spot_mode_negative_target_on_a_long_only_exits() -> None:
    [order] = decide(manager(), -1.0, holding(2.0)).orders
    assert (order.side, order.qty, order.reason) == (Side.SELL, 2.0, "exit")


SHORTS = PaperConfig(allow_short=True, slippage_bps=5.0)


def test_short_mode_negative_target_opens_a_short() -> None:
    [order] = decide(manager(paper=SHORTS), -0.6, flat(allow_short=True)).orders
    assert (order.side, order.kind, order.reason) == (Side.SELL, OrderKind.MARKET, "entry")
    assert order.qty == pytest.approx(0.6 * 0.5 * 10_000.0 / 200.0, rel=1e-12)


def test_short_mode_positive_target_on_a_short_exits_then_enters_long() -> None:
    ledger = holding(-4.0, price=200.0, allow_short=True)  # cash 10,800, equity 10,000
    exit_, entry = decide(manager(paper=SHORTS), 1.0, ledger).orders
    assert (exit_.side, exit_.qty, exit_.reason, exit_.id) == (Side.BUY, 4.0, "exit", f"{BTC}:{T0}:exit")
    assert (entry.side, entry.reason, entry.id) == (Side.BUY, "entry", f"{BTC}:{T0}:entry")
    assert entry.qty == pytest.approx(0.5 * 10_000.0 / 200.0, rel=1e-12)


def test_short_mode_negative_target_on_a_long_exits_then_enters_short() -> None:
    exit_, entry = decide(manager(paper=SHORTS), -1.0, holding(2.0, allow_short=True)).orders
    assert (exit_.side, exit_.qty, exit_.reason) == (Side.SELL, 2.0, "exit")
    assert (entry.side, entry.reason) == (Side.SELL, "entry")


def test_short_mode_no_second_entry_when_already_short() -> None:
    assert decide(manager(paper=SHORTS), -1.0, holding(-2.0, allow_short=True)).orders == []


def test_short_mode_target_zero_covers_a_short() -> None:
    [order] = decide(manager(paper=SHORTS), 0.0, holding(-2.0, allow_short=True)).orders
    assert (order.side, order.qty, order.reason) == (Side.BUY, 2.0, "exit")


# -- blocks ----------------------------------------------------------------------------------


def test_max_open_positions_blocks_entries_but_not_exits() -> None:
    risk = manager(RiskConfig(max_open_positions=1, stop_loss_pct=0.03))
    ledger = holding(1.0, price=100.0, symbol=ETH)
    d = decide(risk, 1.0, ledger)
    assert d.orders == []
    [message] = blocked(d)
    assert "1 positions already open" in message
    [exit_] = decide(risk, 0.0, ledger, b=bar(symbol=ETH)).orders
    assert exit_.reason == "exit"


def test_a_block_is_reported_once_per_streak_and_again_after_an_entry() -> None:
    risk = manager(RiskConfig(max_open_positions=1, stop_loss_pct=0.03))
    ledger = holding(1.0, price=100.0, symbol=ETH)
    events = [blocked(decide(risk, 1.0, ledger, b=bar(ts=T0 + i * HOUR), now=NOW + i * HOUR)) for i in range(3)]
    assert [len(e) for e in events] == [1, 0, 0]
    ledger.apply(Fill("eth-exit", ETH, Side.SELL, 1.0, 100.0, 0.0, T0 + 3 * HOUR))  # room again
    assert decide(risk, 1.0, ledger, b=bar(ts=T0 + 3 * HOUR), now=NOW + 3 * HOUR).orders  # the entry ends it
    ledger.apply(Fill("eth-again", ETH, Side.BUY, 1.0, 100.0, 0.0, T0 + 4 * HOUR))  # full again
    d = decide(risk, 1.0, ledger, b=bar(ts=T0 + 4 * HOUR), now=NOW + 4 * HOUR)
    assert len(blocked(d)) == 1  # a new streak


def test_a_different_block_reason_is_reported_even_within_a_streak() -> None:
    risk = manager(RiskConfig(max_open_positions=1, min_order_notional=10.0, stop_loss_pct=0.03))
    ledger = holding(1.0, price=100.0, symbol=ETH)
    assert len(blocked(decide(risk, 1.0, ledger))) == 1
    ledger.apply(Fill("eth-exit", ETH, Side.SELL, 1.0, 100.0, 0.0, T0))
    d = decide(risk, 0.0001, ledger, b=bar(ts=T0 + HOUR), now=NOW + HOUR)  # now under the minimum
    [message] = blocked(d)
    assert "under the minimum" in message


def test_block_streaks_are_per_symbol() -> None:
    risk = manager(RiskConfig(max_open_positions=1, stop_loss_pct=0.03))
    ledger = holding(1.0, price=100.0, symbol="SOL/USDT")
    assert len(blocked(decide(risk, 1.0, ledger, b=bar(symbol=BTC)))) == 1
    assert len(blocked(decide(risk, 1.0, ledger, b=bar(symbol=ETH)))) == 1


def test_a_min_notional_streak_is_reported_once_even_as_the_equity_moves() -> None:
    risk = manager(RiskConfig(max_position_fraction=0.5, min_order_notional=10_000.0, stop_loss_pct=0.03))
    ledger = holding(10.0, price=100.0, symbol=ETH)
    counts = []
    for i, eth_price in enumerate([100.0, 101.0, 102.0]):
        ledger.mark(ETH, eth_price)  # equity 10,000, 10,010, 10,020: notional 5,000, 5,005, 5,010
        counts.append(len(blocked(decide(risk, 1.0, ledger, b=bar(ts=T0 + i * HOUR), now=NOW + i * HOUR))))
    assert counts == [1, 0, 0]


def test_a_bar_without_an_entry_wish_ends_the_block_streak() -> None:
    risk = manager(RiskConfig(max_open_positions=1, stop_loss_pct=0.03))
    ledger = holding(1.0, price=100.0, symbol=ETH)  # the one allowed position is taken throughout
    assert len(blocked(decide(risk, 1.0, ledger))) == 1
    assert decide(risk, 0.0, ledger, b=bar(ts=T0 + HOUR), now=NOW + HOUR).events == []  # no entry wanted
    d = decide(risk, 1.0, ledger, b=bar(ts=T0 + 2 * HOUR), now=NOW + 2 * HOUR)
    assert d.orders == []
    assert len(blocked(d)) == 1  # a new streak: blocked again, and reported


def test_a_halt_is_reported_once_however_often_the_strategy_asks_under_it() -> None:
    """Wishes that come and go under one halt: one report, not one per wish.
    After the resume and a new halt, the new halt is reported."""
    risk, ledger = manager(), flat()
    risk.halt_entries(T0, "paused by the operator")
    wishes = [1.0, 0.0, 1.0, None, 1.0, 0.0, 1.0]
    reports = [len(blocked(decide(risk, w, ledger, b=bar(ts=T0 + i * HOUR), now=NOW + i * HOUR)))
               for i, w in enumerate(wishes)]
    assert reports == [1, 0, 0, 0, 0, 0, 0]
    risk.resume(ledger.equity)
    assert decide(risk, 0.0, ledger, b=bar(ts=T0 + 7 * HOUR), now=NOW + 7 * HOUR).orders == []
    risk.halt_entries(T0 + 8 * HOUR, "paused by the operator")
    assert len(blocked(decide(risk, 1.0, ledger, b=bar(ts=T0 + 8 * HOUR), now=NOW + 8 * HOUR))) == 1


def test_a_venue_block_is_reported_once_while_it_lasts() -> None:
    risk = manager()
    venue = BookView(entry_block=("unknown_order", "order X got no reply"))
    reports = [len(blocked(decide(risk, w, flat(), book=venue, b=bar(ts=T0 + i * HOUR), now=NOW + i * HOUR)))
               for i, w in enumerate([1.0, 0.0, 1.0])]
    assert reports == [1, 0, 0]
    # Once the venue answers, a wish that finds room enters; no stale streak lingers.
    assert decide(risk, 0.0, flat(), b=bar(ts=T0 + 3 * HOUR), now=NOW + 3 * HOUR).events == []
    assert decide(risk, 1.0, flat(), b=bar(ts=T0 + 4 * HOUR), now=NOW + 4 * HOUR).orders


def test_no_second_entry_while_an_entry_is_still_pending() -> None:
    risk, ledger = manager(), flat()
    [first] = decide(risk, 1.0, ledger).orders
    # still resting (a latency, a partial fill) at the next decision
    d = decide(risk, 1.0, ledger, b=bar(ts=T0 + HOUR), book=BookView.of([first]), now=NOW + HOUR)
    assert d.orders == [] and d.pending


def test_no_second_exit_while_an_exit_is_still_pending() -> None:
    risk, ledger = manager(), holding(2.0)
    [first] = decide(risk, 0.0, ledger).orders
    d = decide(risk, 0.0, ledger, b=bar(ts=T0 + HOUR), book=BookView.of([first]), now=NOW + HOUR)
    assert d.orders == []


def test_a_resting_market_order_of_another_symbol_does_not_hold_back_this_one() -> None:
    risk = manager()
    [eth_entry] = decide(risk, 1.0, flat(), b=bar(symbol=ETH)).orders
    [btc_entry] = decide(risk, 1.0, flat(), book=BookView.of([eth_entry])).orders
    assert btc_entry.symbol == BTC


def test_entries_decided_on_one_bar_share_the_gross_exposure_limit() -> None:
    """Each entry had been sized against the ledger alone: ETH and SOL
    entering on one bar took 0.76 of equity under max_gross_exposure 0.5."""
    risk = manager(RiskConfig(max_position_fraction=0.4, max_gross_exposure=0.5, stop_loss_pct=0.03))
    ledger = flat()
    ledger.mark(ETH, 100.0)
    [eth_entry] = decide(risk, 1.0, ledger, b=bar(close=100.0, symbol=ETH)).orders  # 4,000 of 10,000
    [btc_entry] = decide(risk, 1.0, ledger, book=BookView.of([eth_entry])).orders
    assert btc_entry.qty * 200.0 == pytest.approx(0.5 * 10_000.0 - 4_000.0)  # what the limit leaves: 1,000


def test_entries_on_their_way_count_as_open_positions() -> None:
    """Two positions were open on 164 bars under max_open_positions 1: both
    symbols had entered on the same bar."""
    risk = manager(RiskConfig(max_open_positions=1, stop_loss_pct=0.03))
    ledger = flat()
    ledger.mark(ETH, 100.0)
    [eth_entry] = decide(risk, 1.0, ledger, b=bar(close=100.0, symbol=ETH)).orders
    d = decide(risk, 1.0, ledger, book=BookView.of([eth_entry]))
    assert d.orders == []
    [message] = blocked(d)
    assert "1 positions already open or on their way (1 entries not filled yet)" in message
    exit_ = Order("x", ETH, Side.SELL, OrderKind.MARKET, 1.0, NOW, "exit")
    assert decide(risk, 1.0, ledger, book=BookView.of([exit_])).orders  # an exit opens nothing


def test_resting_stops_do_not_hold_back_an_exit() -> None:
    risk, working, ledger = manager(), Working(), flat()
    protect(risk, [entry_fill(2.0, 200.0)], ledger, working)
    assert working.of(OrderKind.STOP)
    [exit_] = decide(risk, 0.0, ledger, book=working.view()).orders
    assert (exit_.reason, exit_.qty) == ("exit", 2.0)


def test_a_position_under_the_venues_smallest_amount_counts_as_flat() -> None:
    """Fee dust left by an exchange cannot be sold: no exit for it, and an entry is allowed."""
    ledger, risk = holding(0.0004), manager()
    dusty = BookView(dust={BTC: 0.001})
    assert decide(risk, 0.0, ledger, book=dusty).orders == []
    [entry] = decide(risk, 1.0, ledger, book=dusty).orders
    assert entry.reason == "entry"


def test_a_flatten_leaves_fee_dust_alone_and_closes_the_rest() -> None:
    """Each operator flatten (and the kill switch's) sent a market order for
    the dust a fill's fee left, and the exchange refused it every time."""
    dusty = BookView(dust={BTC: 0.001})
    assert manager().flatten_all(holding(0.0004), dusty, T0, T0).orders == []
    [close] = manager().flatten_all(holding(0.5), dusty, T0, T0).orders
    assert (close.side, close.qty, close.reason) == (Side.SELL, 0.5, "operator_flatten")


def test_a_venue_block_refuses_entries_but_not_exits_and_names_the_rule() -> None:
    risk = manager()
    blocked_venue = BookView(entry_block=("unknown_order", "order X got no reply"))
    d = decide(risk, 1.0, flat(), book=blocked_venue)
    assert d.orders == [] and d.blocked == "unknown_order: order X got no reply"
    [exit_] = decide(risk, 0.0, holding(2.0), book=blocked_venue).orders
    assert exit_.reason == "exit"
    assert risk.trading_state(blocked_venue)[0] is TradingState.REDUCE_ONLY


def test_stale_bar_blocks_everything_with_one_event() -> None:
    risk = manager(RiskConfig(max_bar_age_seconds=60.0, stop_loss_pct=0.03))
    closed = T0 + HOUR
    d = decide(risk, 0.0, holding(2.0), now=closed + 61_000)  # not even the exit
    assert d.orders == []
    [message] = blocked(d)
    assert message.startswith("stale data") and "61 s" in message
    d = decide(risk, 1.0, flat(), b=bar(ts=T0 + HOUR), now=closed + HOUR + 120_000)
    assert d.orders == [] and blocked(d) == []  # same streak


def test_a_catch_up_of_stale_bars_is_one_streak_whatever_the_strategy_wants() -> None:
    """After an outage the catch-up steps many stale bars. A bar where the
    strategy wanted to stay flat ended the streak, so the next entry wish
    reported it again: 58 `order_blocked` warnings (and notifications) in
    one catch-up. A fresh bar ends it."""
    risk = manager(RiskConfig(max_bar_age_seconds=60.0, stop_loss_pct=0.03))
    reported = []
    for k, target in enumerate([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]):
        closed = T0 + (k + 1) * HOUR
        d = decide(risk, target, flat(), b=bar(ts=T0 + k * HOUR), now=closed + 10 * HOUR)
        assert d.orders == [] and d.blocked.startswith("stale_data")
        reported += blocked(d)
    assert len(reported) == 1
    fresh = T0 + 7 * HOUR
    decide(risk, 0.0, flat(), b=bar(ts=fresh - HOUR), now=fresh + 1_000)  # data on time again: the streak ends
    d = decide(risk, 1.0, flat(), b=bar(ts=fresh), now=fresh + HOUR + 10 * HOUR)
    assert len(blocked(d)) == 1


def test_a_second_outage_while_a_position_is_held_is_reported_again() -> None:
    """A held long the strategy kept wanting never ended the first outage's
    streak (no bar wanted nothing, and nothing was entered): the second
    outage blocked without a word."""
    risk = manager(RiskConfig(max_bar_age_seconds=60.0, stop_loss_pct=0.03))
    long, reported = holding(10.0), []
    for k in range(13):
        outage = k < 3 or k >= 10
        d = decide(risk, 1.0, long, b=bar(ts=T0 + k * HOUR), now=T0 + (k + 1) * HOUR + (10 * HOUR if outage else 1_000))
        assert bool(d.blocked) == outage
        reported += blocked(d)
    assert len(reported) == 2, reported


def test_a_bar_exactly_at_the_age_limit_is_not_stale() -> None:
    risk = manager(RiskConfig(max_bar_age_seconds=60.0, stop_loss_pct=0.03))
    [order] = decide(risk, 1.0, flat(), now=T0 + HOUR + 60_000).orders
    assert order.reason == "entry"


def test_without_an_age_limit_old_bars_still_trade() -> None:
    [order] = decide(manager(), 1.0, flat(), now=T0 + 30 * DAY).orders
    assert order.reason == "entry"


def test_cooldown_blocks_entries_until_it_has_counted_down() -> None:
    risk = manager(RiskConfig(cooldown_bars=2, stop_loss_pct=0.03))
    ledger = flat()
    stop_fill = Fill("s", BTC, Side.SELL, 1.0, 190.0, 0.0, T0)
    risk.after_fills(BTC, [stop_fill], {"s": "stop_loss"}, ledger, BookView())
    allowed = []
    for i in range(4):
        b = bar(ts=T0 + i * HOUR)
        allowed.append(bool(decide(risk, 1.0, ledger, b=b, now=NOW + i * HOUR).orders))
        risk.end_of_bar(b, ledger, BookView())
    # Blocked at the stop-out bar's close and the next 2 bars; allowed on the 3rd.
    assert allowed == [False, False, False, True]


# -- order ids and timing -------------------------------------------------------------------


def test_order_ids_are_deterministic_symbol_bar_intent() -> None:
    first = decide(manager(), 1.0, flat()).orders[0]
    second = decide(manager(), 1.0, flat()).orders[0]
    assert first.id == second.id == f"{BTC}:{T0}:entry"


def test_order_ids_differ_by_bar_intent_and_symbol() -> None:
    risk = manager()
    ids = {
        decide(risk, 1.0, flat()).orders[0].id,
        decide(risk, 1.0, flat(), b=bar(ts=T0 + HOUR), now=NOW + HOUR).orders[0].id,
        decide(risk, 0.0, holding(1.0)).orders[0].id,
        decide(risk, 1.0, flat(), b=bar(symbol=ETH)).orders[0].id,
    }
    assert len(ids) == 4


# -- protective orders ------------------------------------------------------------------------


def entry_fill(qty: float, price: float, side: Side = Side.BUY, oid: str = f"{BTC}:{T0}:entry",
               ts: int = NOW) -> Fill:
    return Fill(oid, BTC, side, qty, price, 0.0, ts)


def protect(risk: RiskManager, fills: list[Fill], ledger: Ledger, working: Working | None = None,
            reasons: dict[str, str] | None = None) -> Decision:
    working = working if working is not None else Working()
    for f in fills:
        ledger.apply(f)
    reasons = reasons or {f.order_id: "entry" for f in fills}
    return working.apply(risk.after_fills(BTC, fills, reasons, ledger, working.view()))


def test_a_long_gets_a_stop_stop_loss_pct_below_its_entry() -> None:
    d = protect(manager(), [entry_fill(2.5, 200.0)], flat())
    [order] = d.orders
    assert order.stop_price == pytest.approx(200.0 * (1 - 0.03))  # 194
    assert (order.side, order.kind, order.qty, order.reason) == (Side.SELL, OrderKind.STOP, 2.5, "stop_loss")
    assert order.created_ts == NOW
    assert order.group == f"{BTC}:{NOW}:1" and order.id == f"{BTC}:{NOW}:1:stop"


def test_positions_protected_at_the_same_time_get_distinct_stop_ids() -> None:
    """A catch-up after downtime stamps every fill with the time the orders
    were made: a stop-out and a re-entry there share a timestamp."""
    risk, ledger, working = manager(), flat(), Working()
    [first] = protect(risk, [entry_fill(1.0, 200.0)], ledger, working).orders
    stop_out = Fill(first.id, BTC, Side.SELL, 1.0, 194.0, 0.0, NOW)
    working.orders.remove(first)  # it filled
    protect(risk, [stop_out], ledger, working, reasons={first.id: "stop_loss"})
    [second] = protect(risk, [entry_fill(1.0, 195.0, oid=f"{BTC}:{T0 + 1}:entry")], ledger, working).orders
    assert second.id != first.id and second.created_ts == first.created_ts == NOW


def test_the_stop_is_placed_from_the_average_entry() -> None:
    fills = [entry_fill(1.0, 200.0), Fill("x", BTC, Side.BUY, 3.0, 220.0, 0.0, NOW)]
    [order] = protect(manager(), fills, flat()).orders
    assert order.stop_price == pytest.approx(215.0 * 0.97)
    assert order.qty == 4.0


def test_take_profit_is_a_limit_in_the_stops_group() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.03, take_profit_pct=0.06))
    stop_, tp = protect(risk, [entry_fill(2.0, 200.0)], flat()).orders
    assert (tp.kind, tp.side, tp.qty, tp.reason) == (OrderKind.LIMIT, Side.SELL, 2.0, "take_profit")
    assert tp.limit_price == pytest.approx(212.0)
    assert tp.group == stop_.group is not None
    assert tp.id == f"{stop_.group}:take_profit"


def test_a_short_gets_a_buy_stop_above_and_a_take_profit_below() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.03, take_profit_pct=0.06), SHORTS)
    ledger = flat(allow_short=True)
    stop_, tp = protect(risk, [entry_fill(2.0, 200.0, side=Side.SELL)], ledger).orders
    assert (stop_.side, stop_.kind, stop_.qty) == (Side.BUY, OrderKind.STOP, 2.0)
    assert stop_.stop_price == pytest.approx(206.0)
    assert (tp.side, tp.kind) == (Side.BUY, OrderKind.LIMIT)
    assert tp.limit_price == pytest.approx(188.0)


def test_no_take_profit_without_take_profit_pct() -> None:
    [only] = protect(manager(), [entry_fill(1.0, 200.0)], flat()).orders
    assert only.kind is OrderKind.STOP


def test_a_flat_position_cancels_its_protective_orders() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.03, take_profit_pct=0.06))
    ledger, working = flat(), Working()
    stop_, tp = protect(risk, [entry_fill(2.0, 200.0)], ledger, working).orders
    exit_fill = Fill(f"{BTC}:{T0 + HOUR}:exit", BTC, Side.SELL, 2.0, 205.0, 0.0, NOW + HOUR)
    d = protect(risk, [exit_fill], ledger, working, {exit_fill.order_id: "exit"})
    assert d.orders == []
    assert working.orders == []
    assert sorted(d.commands, key=lambda c: c.order_id) == [Cancel(stop_.id, NOW + HOUR), Cancel(tp.id, NOW + HOUR)]
    assert BTC not in risk.state.trail_ref


def test_a_further_fill_resizes_the_protective_orders_instead_of_adding_more() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.03, take_profit_pct=0.06))
    ledger, working = flat(), Working()
    protect(risk, [entry_fill(1.0, 200.0)], ledger, working)
    d = protect(risk, [Fill("more", BTC, Side.BUY, 1.5, 201.0, 0.0, NOW + HOUR)], ledger, working)
    assert d.orders == []
    assert sorted((o.kind.value, o.qty) for o in working.orders) == [("limit", 2.5), ("stop", 2.5)]
    assert len([c for c in d.commands if isinstance(c, Resize)]) == 2


def test_no_fills_no_decision() -> None:
    d = manager().after_fills(BTC, [], {}, holding(1.0), BookView())
    assert d.orders == [] and d.events == []


def test_stop_and_take_profit_fills_are_events_and_only_a_stop_starts_the_cooldown() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.03, cooldown_bars=3))
    ledger = holding(2.0)
    tp = Fill("tp", BTC, Side.SELL, 1.0, 212.0, 0.0, NOW)
    [event] = risk.after_fills(BTC, [tp], {"tp": "take_profit"}, ledger, BookView()).events
    assert (event.kind, event.symbol, event.data["price"]) == ("take_profit", BTC, 212.0)
    assert risk.state.cooldown.get(BTC, 0) == 0
    sl = Fill("sl", BTC, Side.SELL, 1.0, 194.0, 0.0, NOW)
    [event] = risk.after_fills(BTC, [sl], {"sl": "stop_loss"}, ledger, BookView()).events
    assert event.kind == "stop_loss" and "194.00" in event.message
    assert risk.state.cooldown[BTC] == 4  # this bar's close plus the next 3


def test_flipping_from_short_to_long_replaces_the_protection() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.05), SHORTS)
    ledger, working = flat(allow_short=True), Working()
    protect(risk, [entry_fill(50.0, 100.0, side=Side.SELL, oid="short")], ledger, working)
    exit_ = Fill("cover", BTC, Side.BUY, 50.0, 100.0, 0.0, NOW + HOUR)
    entry = Fill("long", BTC, Side.BUY, 40.0, 100.0, 0.0, NOW + HOUR)
    protect(risk, [exit_, entry], ledger, working, {"cover": "exit", "long": "entry"})
    assert ledger.position(BTC).qty == 40.0
    [stop_] = working.of(OrderKind.STOP)
    assert stop_.side is Side.SELL
    assert stop_.stop_price == pytest.approx(95.0)


# -- trailing stops ------------------------------------------------------------------------------


def hl_bar(ts: int, high: float, low: float, symbol: str = BTC) -> Bar:
    return Bar(symbol, ts, (high + low) / 2, high, low, (high + low) / 2, 1.0)


def test_the_initial_stop_uses_the_tighter_of_trailing_and_stop_loss() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.05, trailing_stop_pct=0.02))
    [order] = protect(risk, [entry_fill(1.0, 100.0)], flat()).orders
    assert order.stop_price == pytest.approx(98.0)


def test_a_trailing_stop_follows_new_highs_only() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.05, trailing_stop_pct=0.05))
    ledger, working = flat(), Working()
    [stop_] = protect(risk, [entry_fill(1.0, 100.0)], ledger, working).orders
    levels, moved = [], set()
    for i, high in enumerate([102.0, 110.0, 104.0, 111.0]):
        d = working.apply(risk.end_of_bar(hl_bar(T0 + i * HOUR, high, high - 3), ledger, working.view()))
        moved |= {c.order_id for c in d.commands if isinstance(c, MoveStop)}
        levels.append(stop_.stop_price)
    assert levels == pytest.approx([96.9, 104.5, 104.5, 105.45])
    assert risk.state.trail_ref[BTC] == 111.0
    assert moved == {stop_.id}


def test_a_trailing_stop_of_a_short_follows_new_lows_only() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.05, trailing_stop_pct=0.05), SHORTS)
    ledger, working = flat(allow_short=True), Working()
    [stop_] = protect(risk, [entry_fill(1.0, 100.0, side=Side.SELL)], ledger, working).orders
    assert stop_.stop_price == pytest.approx(105.0)
    levels = []
    for i, low in enumerate([98.0, 90.0, 95.0]):
        working.apply(risk.end_of_bar(hl_bar(T0 + i * HOUR, low + 3, low), ledger, working.view()))
        levels.append(stop_.stop_price)
    assert levels == pytest.approx([102.9, 94.5, 94.5])


def test_without_trailing_the_stop_stays_put() -> None:
    risk = manager(RiskConfig(stop_loss_pct=0.05))
    ledger, working = flat(), Working()
    [stop_] = protect(risk, [entry_fill(1.0, 100.0)], ledger, working).orders
    d = working.apply(risk.end_of_bar(hl_bar(T0, 150.0, 140.0), ledger, working.view()))
    assert stop_.stop_price == pytest.approx(95.0)
    assert d.commands == []


# -- account guards ----------------------------------------------------------------------------


def test_daily_loss_limit_blocks_entries_until_the_next_utc_day() -> None:
    risk = manager(RiskConfig(daily_loss_limit_pct=0.02, stop_loss_pct=0.03))
    day_start = T0 - T0 % DAY
    ledger = holding(10.0, price=100.0, symbol=ETH)  # equity 10,000
    risk.new_day_start(day_start + HOUR, ledger.equity)
    ledger.mark(ETH, 79.0)  # equity 9,790: -2.1%
    [event] = risk.check_account(day_start + HOUR, ledger, BookView(), NOW).events
    assert (event.kind, event.level) == ("daily_loss_limit", "warning")
    d = decide(risk, 1.0, ledger, b=bar(ts=day_start + 2 * HOUR))
    assert d.orders == [] and "daily loss limit" in blocked(d)[0]
    assert risk.check_account(day_start + 2 * HOUR, ledger, BookView(), NOW).events == []  # reported once a day
    risk.new_day_start(day_start + DAY, ledger.equity)
    assert decide(risk, 1.0, ledger, b=bar(ts=day_start + DAY)).orders


def test_a_late_bar_of_the_day_before_starts_no_day() -> None:
    """A symbol whose bar of 23:00 steps after the others stepped into the
    new day leaves the new day's start equity alone."""
    risk = manager(RiskConfig(daily_loss_limit_pct=0.02))
    midnight = T0 - T0 % DAY + DAY
    risk.new_day_start(midnight, 10_000.0)
    risk.new_day_start(midnight - HOUR, 9_500.0)  # the late bar of the day before
    risk.new_day_start(midnight + HOUR, 9_000.0)
    assert risk.state.day == midnight // DAY and risk.state.day_start_equity == 10_000.0


def test_a_loss_just_short_of_the_daily_limit_does_not_block() -> None:
    risk = manager(RiskConfig(daily_loss_limit_pct=0.02, stop_loss_pct=0.03))
    ledger = holding(10.0, price=100.0, symbol=ETH)
    risk.new_day_start(T0, ledger.equity)
    ledger.mark(ETH, 80.1)  # equity 9,801: -1.99%
    assert risk.check_account(T0, ledger, BookView(), NOW).events == []
    assert decide(risk, 1.0, ledger).orders


def test_kill_switch_flattens_every_position_and_halts_until_resume() -> None:
    paper = PaperConfig(allow_short=True, slippage_bps=5.0)
    risk = manager(RiskConfig(max_drawdown_pct=0.1, stop_loss_pct=0.5), paper)
    ledger = Ledger(cash=10_000.0, allow_short=True)
    ledger.apply(Fill("a", BTC, Side.BUY, 20.0, 200.0, 0.0, T0))
    ledger.apply(Fill("b", ETH, Side.SELL, 10.0, 100.0, 0.0, T0))
    ledger.mark(BTC, 200.0)
    ledger.mark(ETH, 100.0)
    pending = Order("pending", BTC, Side.BUY, OrderKind.MARKET, 1.0, T0, "entry")
    book = BookView.of([pending])
    assert risk.check_account(T0, ledger, book, NOW).orders == []  # peak 10,000
    ledger.mark(BTC, 150.0)  # equity 9,000: -10%
    d = risk.check_account(T0 + HOUR, ledger, book, NOW + HOUR)
    [event] = d.events
    assert (event.kind, event.level) == ("kill_switch", "error")
    assert sorted((o.symbol, o.side, o.qty, o.reason, o.id) for o in d.orders) == [
        (BTC, Side.SELL, 20.0, "kill_switch", f"{BTC}:{T0 + HOUR}:kill_switch"),
        (ETH, Side.BUY, 10.0, "kill_switch", f"{ETH}:{T0 + HOUR}:kill_switch"),
    ]
    assert d.commands[0] == Cancel("pending", NOW + HOUR)  # before anything is sent
    assert risk.state.halted and risk.trading_state(book)[0] is TradingState.HALTED
    assert risk.check_account(T0 + 2 * HOUR, ledger, book, NOW + 2 * HOUR).events == []  # halted once
    d = decide(risk, 1.0, flat(allow_short=True), b=bar(symbol="SOL/USDT"))
    assert d.orders == [] and "halted by the kill switch" in blocked(d)[0]
    risk.resume(9_000.0)
    assert not risk.state.halted and risk.state.peak_equity == 9_000.0
    assert decide(risk, 1.0, flat(allow_short=True), b=bar(symbol="SOL/USDT")).orders
    # An operator's halt is the operator's: it was said to be the strategy guard's.
    risk.follow_pause_requests(1, T0 + 3 * HOUR, "`bot pause`")
    assert risk.trading_state(book)[1].startswith("halted by the operator (paused by the operator (`bot pause`))")


def test_risk_state_survives_a_json_round_trip() -> None:
    state = RiskState(peak_equity=1.5, halted=True, halt_reason="x", day=3, day_start_equity=2.0, day_blocked=3,
                      cooldown={BTC: 2}, trail_ref={BTC: 101.0}, last_block={BTC: "cooldown"})
    assert RiskState.from_json(state.to_json()) == state
    assert RiskState.from_json(None) == RiskState()
