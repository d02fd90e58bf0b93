"""A finding a re-fetch repeats (the same bad bar served at every retry)
is reported once: the screen and the price gate both remember what they
reported, in bounded memory."""

from __future__ import annotations

from collections.abc import Hashable


class ReportedOnce:
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._seen: set[Hashable] = set()

    def first(self, key: Hashable) -> bool:
        """True the first time `key` is offered (again after the memory filled up)."""
        if key in self._seen:
            return False
        if len(self._seen) >= self.limit:
            self._seen.clear()  # forgetting costs at most a repeated warning
        self._seen.add(key)
        return True
