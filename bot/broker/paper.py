"""Local fill simulator: the paper broker.

Market orders decided at a bar's close fill at the open of the next bar
(or `latency_bars` later), moved against us by their slippage, and pay the
taker fee (`fill_models.py` sets both when an order arrives). With
`max_volume_share` a bar fills at most that share of its volume; the rest
of the order waits for the next bars.

Protective orders rest until a bar reaches them:
- a stop fills as a market order at its stop price, or at the bar's open
  when the bar opened beyond it (a gap: nobody could have traded at the
  stop), with slippage and the taker fee;
- a take-profit limit fills at its limit, or at a better open, with no
  slippage and the maker fee.
When a bar reaches both a stop and a take-profit, the stop is taken: the
bar's path is unknown and the worse case is the honest one. Protective
orders of one position form a group: one filling cancels the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.book_view import BookChanges, BookView
from bot.broker.fill_models import LatencyModel, SlippageModel
from bot.broker.working_orders import KeepsWorkingOrders, WorkingOrders, reached
from bot.config import PaperConfig
from bot.domain import Bar, Fill, Order, OrderKind, OrderStatus, Side
from bot.risk.pending_entries import ENTRY


class PaperBroker(KeepsWorkingOrders):
    def __init__(self, cfg: PaperConfig, timeframe_ms: int, min_notional: float = 0.0) -> None:
        self.working = WorkingOrders()
        # The smallest entry this venue fills (risk.min_order_notional): an
        # entry cut to the cash left below it is refused, not filled as dust.
        self.min_notional = min_notional
        self.taker_fee = cfg.fee_bps / 10_000
        self.maker_fee = cfg.maker_fee_bps / 10_000
        self.max_volume_share = cfg.max_volume_share
        self.slippage = SlippageModel(cfg)
        self.latency = LatencyModel(cfg.latency_bars, timeframe_ms)
        self._market: dict[str, tuple[int, float | None]] = {}  # symbol -> (newest bar ts, its volatility)
        self._view: tuple[int, BookView] = (-1, BookView())

    # -- the port ------------------------------------------------------------

    def view(self, symbols: Iterable[str] = ()) -> BookView:
        # Several views are asked for per step, mostly of an unchanged book.
        if self._view[0] != self.working.revision:
            self._view = (self.working.revision, BookView.of(self.working.open.values()))
        return self._view[1]

    def observe(self, bar: Bar, volatility: float | None) -> None:
        self._market[bar.symbol] = (bar.ts, volatility)

    def submit(self, order: Order) -> None:
        """Take an order decided now: price and time it as this venue would
        (unless it carries its own figures, as a test's order may)."""
        decided_ts, volatility = self._market.get(order.symbol, (None, None))
        if order.slippage_bps is None:
            order.slippage_bps = self.slippage.bps(order.kind, volatility)
        if order.not_before_ts is None:
            # Protective orders wait for their price, not for a bar; with no
            # bar seen yet for the symbol a market order is due at the next.
            market = order.kind is OrderKind.MARKET
            order.not_before_ts = self.latency.not_before(decided_ts) if market and decided_ts is not None else 0
        self.adopt(order)

    def adopt(self, order: Order) -> None:
        self.working.add(order)

    def cancel(self, order_id: str, ts: int) -> Order | None:
        order = self.working.get(order_id)
        if order is not None:
            self.working.close(order, OrderStatus.CANCELED, ts)
        return order

    def reasons(self) -> dict[str, str]:
        return {o.id: o.reason for o in (*self.working.open.values(), *self.working.closed_since_drain())}

    def drain(self) -> BookChanges:
        return BookChanges(*self.working.drain())

    def send_decided(self, now_ms: int) -> bool:
        return False  # everything filled inside the step

    def collect_fills(self) -> dict[str, list[Fill]]:
        return {}

    # -- fills -------------------------------------------------------------

    def fill_market_orders(self, bar: Bar, cash: float) -> list[Fill]:
        """Fill this symbol's due market orders at the bar's open."""
        fills = []
        volume_left = bar.volume * self.max_volume_share if self.max_volume_share else float("inf")
        for order in self.working.of(bar.symbol, OrderKind.MARKET):
            if bar.ts < (order.not_before_ts or 0):
                continue
            price = self._slipped(bar.open, order)
            qty = min(order.remaining, volume_left)
            affordable = qty
            if order.side is Side.BUY:
                # The open may have gapped above the close the order was sized
                # at: buy what the cash pays for, fee included, never more.
                # (shaved by a billionth so float rounding cannot overdraw)
                affordable = min(qty, max(cash, 0.0) / (price * (1 + self.taker_fee)) * (1 - 1e-9))
            if affordable <= 0.0 or self._dust_entry(order, affordable, qty, price):
                if volume_left > 0:  # no cash for any of it, or for more than dust
                    self.working.close(order, OrderStatus.REJECTED, max(bar.ts, order.created_ts))
                continue
            if affordable < qty:
                # Cut to the cash: the order shrinks to what it could buy now,
                # rather than buying the rest later at a price nobody chose.
                order.qty = order.filled_qty + affordable
            fill = self._fill(order, affordable, price, self.taker_fee, bar.ts)
            fills.append(fill)
            volume_left -= fill.qty
            signed = fill.qty if order.side is Side.BUY else -fill.qty
            cash -= signed * price + fill.fee  # exactly as the ledger books it, rounding included
        return fills

    def _dust_entry(self, order: Order, affordable: float, qty: float, price: float) -> bool:
        """An entry the cash cuts below the minimum order: two symbols'
        entries had taken the cash, and a third's was cut to 7.8e-11 BTC
        (5e-6 USDT), filled, given a stop, and counted as a round trip."""
        cut = affordable < qty
        return cut and order.reason == ENTRY and order.filled_qty == 0.0 and affordable * price < self.min_notional

    def trigger_protective(self, bar: Bar) -> list[Fill]:
        """Fill resting stops and take-profits this bar reached, stops first."""
        fills = []
        for order in self.working.of(bar.symbol, OrderKind.STOP):
            if order.id in self.working.open and reached(order, bar):
                fills.append(self._fill(order, order.remaining, self._stop_price(order, bar), self.taker_fee, bar.ts))
        for order in self.working.of(bar.symbol, OrderKind.LIMIT):
            if order.id in self.working.open and reached(order, bar):
                assert order.limit_price is not None  # a take-profit order always has its limit
                price = (
                    max(bar.open, order.limit_price) if order.side is Side.SELL else min(bar.open, order.limit_price)
                )
                fills.append(self._fill(order, order.remaining, price, self.maker_fee, bar.ts))
        return fills

    def _stop_price(self, order: Order, bar: Bar) -> float:
        assert order.stop_price is not None  # a stop order always has its stop price
        gapped = min(bar.open, order.stop_price) if order.side is Side.SELL else max(bar.open, order.stop_price)
        return self._slipped(gapped, order)

    @staticmethod
    def _slipped(price: float, order: Order) -> float:
        slip = (order.slippage_bps or 0.0) / 10_000
        return price * (1 + slip) if order.side is Side.BUY else price * (1 - slip)

    def _fill(self, order: Order, qty: float, price: float, fee_rate: float, bar_ts: int) -> Fill:
        # Stamped no earlier than the order: a market order decided a few
        # seconds after a bar closed fills then, at that next bar's open price.
        ts = max(bar_ts, order.created_ts)
        order.filled_qty += qty
        if order.remaining <= order.qty * 1e-12:
            self.working.close(order, OrderStatus.FILLED, ts)
            self.working.cancel_group(order, ts)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
            self.working.changed(order)
        return Fill(order.id, order.symbol, order.side, qty, price, qty * price * fee_rate, ts)
