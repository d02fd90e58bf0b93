"""Our orders still working at a broker, with the changes a bar step must
persist. Each broker owns one: the paper broker and the exchange broker
differ in how orders fill, not in how they are kept."""

from __future__ import annotations

from bot.domain import Bar, Order, OrderKind, OrderStatus, Side


class WorkingOrders:
    def __init__(self) -> None:
        self.open: dict[str, Order] = {}
        self._closed: list[Order] = []  # closed since the last drain, to persist
        self._changed: dict[str, Order] = {}  # open orders whose fill or price changed
        self.revision = 0  # counts changes: a view taken at the same revision is still true

    def add(self, order: Order) -> None:
        self.open[order.id] = order
        self.revision += 1

    def get(self, order_id: str) -> Order | None:
        return self.open.get(order_id)

    def of(self, symbol: str, kind: OrderKind | None = None) -> list[Order]:
        return [o for o in self.open.values() if o.symbol == symbol and (kind is None or o.kind is kind)]

    def changed(self, order: Order) -> None:
        """An open order's fill, price or status changed: persist it."""
        self._changed[order.id] = order
        self.revision += 1

    def move_stop(self, order_id: str, stop_price: float) -> None:
        order = self.open[order_id]
        order.stop_price = stop_price
        self.changed(order)

    def resize(self, order_id: str, remaining: float) -> None:
        order = self.open[order_id]
        order.qty = order.filled_qty + remaining
        self.changed(order)

    def close(self, order: Order, status: OrderStatus, ts: int) -> None:
        del self.open[order.id]
        self._changed.pop(order.id, None)
        self.revision += 1
        order.status = status
        order.closed_ts = ts
        self._closed.append(order)

    def cancel_group(self, filled: Order, ts: int) -> None:
        """One protective order of a position filled: the others guard nothing."""
        if filled.group is None:
            return
        for other in [o for o in self.open.values() if o.group == filled.group]:
            self.close(other, OrderStatus.CANCELED, ts)

    def drain(self) -> tuple[list[Order], list[Order]]:
        """(closed, changed and still open) since the last call."""
        closed, self._closed = self._closed, []
        changed = [o for o in self._changed.values() if o.status.is_open]
        self._changed = {}
        return closed, changed

    def closed_since_drain(self) -> list[Order]:
        return list(self._closed)


class KeepsWorkingOrders:
    """What both brokers answer from their working orders alone: the open
    book, and the changes that only move an order's size or stop price
    (cancelling differs: an exchange order is cancelled at the exchange)."""

    working: WorkingOrders

    @property
    def open_orders(self) -> dict[str, Order]:
        return self.working.open

    def orders(self, symbol: str, kind: OrderKind | None = None) -> list[Order]:
        return self.working.of(symbol, kind)

    def resize(self, order_id: str, remaining: float) -> None:
        self.working.resize(order_id, remaining)

    def move_stop(self, order_id: str, stop_price: float) -> None:
        self.working.move_stop(order_id, stop_price)


def reached(order: Order, bar: Bar) -> bool:
    """Did the bar trade at a protective order's price: a stop when the bar
    reached it (a long's sell stop at or above the low), a take-profit when
    the bar traded at its limit or better. The one rule both brokers use."""
    if order.kind is OrderKind.STOP:
        assert order.stop_price is not None  # a stop order always has its stop price
        return bar.low <= order.stop_price if order.side is Side.SELL else bar.high >= order.stop_price
    assert order.limit_price is not None  # a take-profit order always has its limit
    return bar.high >= order.limit_price if order.side is Side.SELL else bar.low <= order.limit_price
