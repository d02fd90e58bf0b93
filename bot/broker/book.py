"""The order book every broker keeps: our orders still working, with the
changes a bar step must persist. The paper broker and the exchange broker
differ in how orders fill, not in how they are kept.

The defaults at the end are the port an exchange-backed broker fills in:
sending what a committed step decided, fills that arrive after the step,
events of its own and the smallest position it can trade. The paper broker
fills inside the step and keeps them."""

from __future__ import annotations

from bot.domain import Bar, Event, Fill, Order, OrderKind, OrderStatus


class OrderBook:
    def __init__(self) -> None:
        self.open_orders: dict[str, Order] = {}
        self._closed: list[Order] = []  # closed since the last drain, to persist
        self._changed: dict[str, Order] = {}  # open orders whose fill or price changed

    # -- orders ------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self.open_orders[order.id] = order

    def adopt(self, order: Order) -> None:
        """An open order read back from the database on restart."""
        self.open_orders[order.id] = order

    def cancel(self, order_id: str, ts: int) -> Order | None:
        order = self.open_orders.get(order_id)
        if order is not None:
            self._close(order, OrderStatus.CANCELED, ts)
        return order

    def move_stop(self, order_id: str, stop_price: float) -> None:
        order = self.open_orders[order_id]
        order.stop_price = stop_price
        self._changed[order.id] = order

    def resize(self, order_id: str, remaining: float) -> None:
        """Make a resting order cover `remaining` more (its position changed)."""
        order = self.open_orders[order_id]
        order.qty = order.filled_qty + remaining
        self._changed[order.id] = order

    def orders(self, symbol: str, kind: OrderKind | None = None) -> list[Order]:
        return [o for o in self.open_orders.values() if o.symbol == symbol and (kind is None or o.kind is kind)]

    def drain_closed(self) -> list[Order]:
        """Orders filled, canceled or rejected since the last call."""
        closed, self._closed = self._closed, []
        return closed

    def drain_changed(self) -> list[Order]:
        """Open orders partly filled or re-priced since the last call."""
        changed = [o for o in self._changed.values() if o.status.is_open]
        self._changed = {}
        return changed

    def _close(self, order: Order, status: OrderStatus, ts: int) -> None:
        del self.open_orders[order.id]
        self._changed.pop(order.id, None)
        order.status = status
        order.closed_ts = ts
        self._closed.append(order)

    def _cancel_group(self, filled: Order, ts: int) -> None:
        if filled.group is None:
            return
        for other in [o for o in self.open_orders.values() if o.group == filled.group]:
            self._close(other, OrderStatus.CANCELED, ts)

    # -- how orders fill: each broker its own -----------------------------------

    def fill_market_orders(self, bar: Bar, cash: float) -> list[Fill]:
        """Fill this symbol's due market orders at the bar's open; `cash` bounds a buy."""
        raise NotImplementedError

    def trigger_protective(self, bar: Bar) -> list[Fill]:
        """Fill the resting stops and take-profits this bar reached."""
        raise NotImplementedError

    # -- what an exchange-backed broker adds ----------------------------------

    def send_decided(self, now_ms: int) -> bool:
        """After the step committed: send its orders, ask after those sent.
        True when that may have produced fills or changes to book."""
        return False

    def collect_fills(self) -> dict[str, list[Fill]]:
        """Fills that arrived outside a bar step, by symbol, not yet booked."""
        return {}

    def drain_events(self) -> list[Event]:
        """The broker's own events (refusals, lost acknowledgements) since the last call."""
        return []

    def reasons(self) -> dict[str, str]:
        """Why each order known to the book was made, by id, closed ones included."""
        return {o.id: o.reason for o in (*self.open_orders.values(), *self._closed)}

    def dust_qty(self, symbol: str) -> float:
        """A position smaller than this cannot be traded; it counts as flat."""
        return 0.0

    def entry_block(self) -> str | None:
        """ "kind: why" when the venue's state forbids any new entry (an
        order whose fate is unknown, an account that disagrees with the
        ledger); None for the paper broker, which knows everything."""
        return None
