"""Entries of other symbols decided and not filled yet: the positions they
will open and what they will be worth. An entry rests with the broker until
the next bar's open (or longer, with latency or a partial fill), so the
ledger does not hold it yet. Each symbol's entry had been sized and checked
against the ledger alone: two symbols entering on one bar took 0.76 of
equity against max_gross_exposure 0.5, and held two positions under
max_open_positions 1."""

from __future__ import annotations

from dataclasses import dataclass

from bot.book_view import BookView
from bot.domain import OrderKind
from bot.ledger import Ledger
from bot.ledger.ledger import Position

ENTRY = "entry"  # the reason the risk manager gives an entry's market order


@dataclass(frozen=True)
class PendingEntries:
    opening: int  # positions they will open: symbols flat now
    notional: float  # their unfilled quantity at each symbol's newest close


def pending_entries(book: BookView, ledger: Ledger, besides: str) -> PendingEntries:
    """The entries resting for symbols other than `besides`."""
    entries = [o for o in book.working if o.kind is OrderKind.MARKET and o.reason == ENTRY and o.symbol != besides]
    flat_now = {o.symbol for o in entries if _position(ledger, o.symbol).qty == 0.0}
    notional = sum(abs(o.qty - o.filled_qty) * _position(ledger, o.symbol).mark for o in entries)
    return PendingEntries(len(flat_now), notional)


def _position(ledger: Ledger, symbol: str) -> Position:
    """The ledger's position, read without adding one (Ledger.position would)."""
    return ledger.positions.get(symbol) or Position(symbol)
