"""Where the core gets the time from: never from datetime.now() directly.

The live daemon uses SystemClock; replay and backtest use SimulatedClock,
which only moves when the replay driver advances it, so a replay is
deterministic and runs as fast as the machine allows.
"""

from __future__ import annotations

import time

from bot.ports import Clock

__all__ = ["Clock", "SimulatedClock", "SystemClock"]


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SimulatedClock:
    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance_to(self, when_ms: int) -> None:
        if when_ms < self._now_ms:
            raise ValueError("a simulated clock never goes back")
        self._now_ms = when_ms
