"""Reconciliation finds the same thing at every round while it lasts (a
foreign order, a balance off by a deposit): 288 events a day at the default
five minutes, none of them news after the first. Each finding is reported
when its streak begins; a finding that ends and comes back is news again."""

from __future__ import annotations

import re
from collections.abc import Hashable

from bot.domain import Event

_DIGITS = re.compile(r"\d+")


def finding_key(e: Event) -> Hashable:
    """What one finding is about: the order, the asset (and whether its
    difference blocks entries), or the failure, its figures aside (a
    quiet's "291 s left" is the same failure at every round)."""
    data = e.data or {}
    about = data.get("exchange_order_id") or data.get("asset") or _DIGITS.sub("#", e.message)
    return e.kind, e.symbol, str(about), data.get("blocks_entries")


class FindingStreaks:
    def __init__(self) -> None:
        self._last_round: set[Hashable] = set()

    def new(self, found: list[Event]) -> list[Event]:
        """This round's findings that the round before did not find."""
        keys = [finding_key(e) for e in found]
        fresh = [e for e, key in zip(found, keys, strict=True) if key not in self._last_round]
        self._last_round = set(keys)
        return fresh
