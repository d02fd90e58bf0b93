"""Cash, positions and PnL, updated by fills and marked at each bar close.

Fees are charged to realized PnL when paid, so at every moment
    cash + sum(qty * mark) == initial_cash + realized + unrealized == equity.
Spot only for now: a sell larger than the holding is a bug upstream and
raises instead of silently opening a short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import Fill, Side

_QTY_EPS = 1e-12  # below this a position is closed: float residue of sells


@dataclass(slots=True)
class Position:
    symbol: str
    qty: float = 0.0
    avg_entry: float = 0.0
    mark: float = 0.0
    realized_pnl: float = 0.0

    @property
    def value(self) -> float:
        return self.qty * self.mark

    @property
    def unrealized_pnl(self) -> float:
        return self.qty * (self.mark - self.avg_entry)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts: int
    cash: float
    position_value: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float


@dataclass
class Ledger:
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid: float = 0.0

    def position(self, symbol: str) -> Position:
        if symbol not in self.positions:
            self.positions[symbol] = Position(symbol)
        return self.positions[symbol]

    def apply(self, fill: Fill) -> float:
        """Book one fill; returns the realized PnL it produced (fee included)."""
        pos = self.position(fill.symbol)
        if pos.qty == 0.0:
            pos.mark = fill.price  # a reopened position must not keep the old mark
        if fill.side is Side.BUY:
            realized = self._buy(pos, fill.qty, fill.price)
            self.cash -= fill.qty * fill.price + fill.fee
        else:
            qty = self._sellable(pos, fill.qty)
            realized = self._sell(pos, qty, fill.price)
            self.cash += qty * fill.price - fill.fee
        realized -= fill.fee
        pos.realized_pnl += realized
        self.fees_paid += fill.fee
        return realized

    @staticmethod
    def _buy(pos: Position, qty: float, price: float) -> float:
        new_qty = pos.qty + qty
        pos.avg_entry = (pos.avg_entry * pos.qty + price * qty) / new_qty
        pos.qty = new_qty
        return 0.0

    @staticmethod
    def _sellable(pos: Position, qty: float) -> float:
        """The quantity a sell really removes: float dust above the holding is
        clipped; anything more is a bug upstream."""
        if qty > pos.qty * (1 + 1e-9) + _QTY_EPS:
            raise ValueError(f"sell of {qty} {pos.symbol} exceeds holding {pos.qty}")
        return min(qty, pos.qty)

    @staticmethod
    def _sell(pos: Position, qty: float, price: float) -> float:
        realized = (price - pos.avg_entry) * qty
        pos.qty -= qty
        if pos.qty <= _QTY_EPS:
            pos.qty = 0.0
            pos.avg_entry = 0.0
        return realized

    def mark(self, symbol: str, price: float) -> None:
        self.position(symbol).mark = price

    @property
    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    def snapshot(self, ts: int) -> EquityPoint:
        value = sum(p.value for p in self.positions.values())
        unrealized = sum(p.unrealized_pnl for p in self.positions.values())
        return EquityPoint(
            ts=ts,
            cash=self.cash,
            position_value=value,
            equity=self.cash + value,
            realized_pnl=self.realized_pnl,
            unrealized_pnl=unrealized,
            fees_paid=self.fees_paid,
        )
