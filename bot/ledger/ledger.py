"""Cash, positions and PnL, updated by fills and marked at each bar close.

Quantities are signed: negative is short. Fees are charged to realized PnL
when paid, so at every moment
    cash + sum(qty * mark) == initial_cash + realized + unrealized == equity.
In spot mode (no shorting) a sell larger than the holding is a bug upstream
and raises instead of silently opening a short.
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
    allow_short: bool = False

    def position(self, symbol: str) -> Position:
        if symbol not in self.positions:
            self.positions[symbol] = Position(symbol)
        return self.positions[symbol]

    def apply(self, fill: Fill) -> float:
        """Book one fill; returns the realized PnL it produced (fee included)."""
        pos = self.position(fill.symbol)
        qty = fill.qty if fill.side is Side.BUY else -self._sellable(pos, fill.qty)
        if pos.qty == 0.0:
            pos.mark = fill.price  # a reopened position must not keep the old mark
        realized = self._trade(pos, qty, fill.price) - fill.fee
        self.cash -= qty * fill.price + fill.fee
        pos.realized_pnl += realized
        self.fees_paid += fill.fee
        return realized

    def _sellable(self, pos: Position, qty: float) -> float:
        """In spot mode a sell removes at most the holding: float dust above
        it is clipped; anything more is a bug upstream."""
        if self.allow_short:
            return qty
        if qty > pos.qty * (1 + 1e-9) + _QTY_EPS:
            raise ValueError(f"sell of {qty} {pos.symbol} exceeds holding {pos.qty}")
        return min(qty, pos.qty)

    @staticmethod
    def _trade(pos: Position, qty: float, price: float) -> float:
        """Apply a signed quantity; returns the realized PnL before fees."""
        if qty == 0.0:
            # A sell of dust against a flat position clips to nothing (see
            # _sellable): there is no trade, and no average price to move.
            return 0.0
        if pos.qty == 0.0 or (pos.qty > 0) == (qty > 0):  # opening or adding
            total = pos.qty + qty
            pos.avg_entry = (pos.avg_entry * abs(pos.qty) + price * abs(qty)) / abs(total)
            pos.qty = total
            return 0.0
        closing = min(abs(qty), abs(pos.qty))
        realized = (price - pos.avg_entry) * closing * (1 if pos.qty > 0 else -1)
        remaining = pos.qty + qty
        if abs(remaining) <= _QTY_EPS:
            pos.qty, pos.avg_entry = 0.0, 0.0
        elif (remaining > 0) != (pos.qty > 0):  # flipped through zero
            pos.qty, pos.avg_entry = remaining, price
        else:
            pos.qty = remaining
        return realized

    def mark(self, symbol: str, price: float) -> None:
        self.position(symbol).mark = price

    @property
    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    @property
    def gross_exposure(self) -> float:
        return sum(abs(p.value) for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + sum(p.value for p in self.positions.values())

    def open_positions(self) -> int:
        return sum(1 for p in self.positions.values() if p.qty != 0.0)

    def snapshot(self, ts: int) -> EquityPoint:
        # One pass over the positions, added left to right as the sums in
        # the properties above are (on Python 3.11 the same floats), and
        # the point built from positional arguments: this runs at every bar
        # step, and three sums and keyword arguments were most of its cost.
        value = unrealized = realized = 0.0
        for p in self.positions.values():
            value += p.qty * p.mark
            unrealized += p.qty * (p.mark - p.avg_entry)
            realized += p.realized_pnl
        # ts, cash, position_value, equity, realized_pnl, unrealized_pnl, fees_paid
        return EquityPoint(ts, self.cash, value, self.cash + value, realized, unrealized, self.fees_paid)
