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
        self._last_failed: dict[str, int] = {}  # symbol -> the firing of its newest failure

    def starts(self, symbol: str, message: str, firing_ms: int) -> bool:
        """Whether this failure starts a streak (or changes its reason)."""
        reason = _NUMBER.sub("#", message)
        new = self._reason.get(symbol) != reason
        self._reason[symbol] = reason
        self._last_failed[symbol] = firing_ms
        return new

    def failed_since(self, symbol: str, firing_ms: int) -> bool:
        """Whether a fetch of this symbol failed in this firing (a hole's
        fetch failing after the newest bars came: the streak goes on)."""
        return self._last_failed.get(symbol, -1) >= firing_ms

    def ended(self, symbol: str) -> None:
        self._reason.pop(symbol, None)
