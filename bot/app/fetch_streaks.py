"""A fetch that fails at every firing (the exchange down, a symbol
delisted, a long Retry-After) is one fault to the person who is told: each
failure is stored and logged, but a notification goes out when a symbol's
streak of failures starts or its reason changes, not at every firing it
lasts (with the late retries, three or four an hour per symbol). A fetch
that succeeds ends the streak, so the next failure is told again."""

from __future__ import annotations

import re

# "86390 s left", "after 5 attempts": the same reason, told in other numbers.
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class FetchStreaks:
    def __init__(self) -> None:
        self._reason: dict[str, str] = {}  # symbol -> its failing streak's reason

    def starts(self, symbol: str, message: str) -> bool:
        """Whether this failure starts a streak (or changes its reason)."""
        reason = _NUMBER.sub("#", message)
        new = self._reason.get(symbol) != reason
        self._reason[symbol] = reason
        return new

    def ended(self, symbol: str) -> None:
        self._reason.pop(symbol, None)
