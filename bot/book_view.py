"""What the risk manager may read of our working orders: a frozen copy,
taken by the broker at one moment. Risk decides from it and returns
commands; it never holds the broker itself, so it cannot act behind the
engine's back and its tests need no broker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain import Event, Order, OrderKind


@dataclass(frozen=True)
class BookView:
    working: tuple[Order, ...] = ()  # copies: changing one changes nothing at the broker
    dust: Mapping[str, float] = field(default_factory=dict)  # below this a position counts as flat
    # (kind, why) when the venue forbids any new entry: an order whose fate
    # is unknown, an account that disagrees with the ledger.
    entry_block: tuple[str, str] | None = None

    @classmethod
    def of(
        cls,
        orders: Iterable[Order],
        dust: Mapping[str, float] | None = None,
        entry_block: tuple[str, str] | None = None,
    ) -> BookView:
        return cls(tuple(dataclasses.replace(o) for o in orders), dict(dust or {}), entry_block)

    def orders(self, symbol: str, kind: OrderKind | None = None) -> list[Order]:
        return [o for o in self.working if o.symbol == symbol and (kind is None or o.kind is kind)]

    def tradable(self, symbol: str, qty: float) -> float:
        """The position as far as orders can change it: below the broker's
        smallest tradable amount (an exchange's lot size; fee dust) it is flat."""
        return 0.0 if abs(qty) < self.dust.get(symbol, 0.0) else qty


@dataclass
class BookChanges:
    """What a broker's book went through since it was last asked, for the
    step to persist: orders that closed, open orders partly filled or
    re-priced, and the broker's own events (refusals, lost acknowledgements)."""

    closed: list[Order] = field(default_factory=list)
    changed: list[Order] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
