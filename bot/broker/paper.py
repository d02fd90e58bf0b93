"""Local fill simulator: the paper broker.

Market orders decided at a bar's close fill at the next bar's open, moved
against us by the slippage, and pay the fee on their notional. Stop orders
rest until a bar trades at or below the stop; a bar that opens below the
stop (a gap) fills at its open, not at the stop price, because nobody could
have sold higher.
"""

from __future__ import annotations

from bot.domain import Bar, Fill, Order, OrderKind, OrderStatus, Side


class PaperBroker:
    def __init__(self, fee_bps: float, slippage_bps: float) -> None:
        self.fee_rate = fee_bps / 10_000
        self.slippage = slippage_bps / 10_000
        self.open_orders: dict[str, Order] = {}
        self._closed: list[Order] = []  # closed since the last drain, to persist

    def drain_closed(self) -> list[Order]:
        """Orders filled, canceled or rejected since the last call."""
        closed, self._closed = self._closed, []
        return closed

    def submit(self, order: Order) -> None:
        self.open_orders[order.id] = order

    def cancel(self, order_id: str, ts: int) -> Order | None:
        order = self.open_orders.get(order_id)
        if order is not None:
            self._close(order, OrderStatus.CANCELED, ts)
        return order

    def resting_stop(self, symbol: str) -> Order | None:
        for order in self.open_orders.values():
            if order.symbol == symbol and order.kind is OrderKind.STOP:
                return order
        return None

    def fill_market_orders(self, bar: Bar, cash: float) -> list[Fill]:
        """Fill this symbol's market orders at the bar's open."""
        fills = []
        for order in self._open(bar.symbol, OrderKind.MARKET):
            price = self._slipped(bar.open, order.side)
            qty = order.qty
            if order.side is Side.BUY:
                # The open may have gapped above the close the order was sized
                # at: buy what the cash pays for, fee included, never more.
                qty = min(qty, max(cash, 0.0) / (price * (1 + self.fee_rate)))
                cash -= qty * price * (1 + self.fee_rate)
            if qty <= 0.0:
                self._close(order, OrderStatus.REJECTED, max(bar.ts, order.created_ts))
                continue
            fills.append(self._fill(order, qty, price, bar.ts))
        return fills

    def trigger_stops(self, bar: Bar) -> list[Fill]:
        """Fill resting stops whose price this bar reached."""
        fills = []
        for order in self._open(bar.symbol, OrderKind.STOP):
            if bar.low > order.stop_price:
                continue
            trigger = min(bar.open, order.stop_price)
            fills.append(self._fill(order, order.qty, self._slipped(trigger, order.side), bar.ts))
        return fills

    def _open(self, symbol: str, kind: OrderKind) -> list[Order]:
        return [o for o in self.open_orders.values() if o.symbol == symbol and o.kind is kind]

    def _slipped(self, price: float, side: Side) -> float:
        return price * (1 + self.slippage) if side is Side.BUY else price * (1 - self.slippage)

    def _close(self, order: Order, status: OrderStatus, ts: int) -> None:
        del self.open_orders[order.id]
        order.status = status
        order.closed_ts = ts
        self._closed.append(order)

    def _fill(self, order: Order, qty: float, price: float, bar_ts: int) -> Fill:
        # Stamped no earlier than the order: a market order decided a few
        # seconds after a bar closed fills then, at that next bar's open price.
        ts = max(bar_ts, order.created_ts)
        self._close(order, OrderStatus.FILLED, ts)
        return Fill(order.id, order.symbol, order.side, qty, price, qty * price * self.fee_rate, ts)
