"""A strategy is user code. What it returns is checked and what it raises
is caught, one bar at a time, so that a bug in it can neither move money
beyond the risk budget nor stop the daemon:

- an exception: no order for this bar (positions keep their stops), and an
  error event naming the strategy, the exception and the line that raised;
- a target outside [-1, 1]: clamped to the nearest bound, with a warning
  event (a target of 7.5 must not become 7.5 times the position limit);
- anything that is not a Signal with a finite target or None: treated as
  an exception;
- FAILURES_BEFORE_HALT failures in a row: new entries are halted (the risk
  manager's halt, shown by `bot status`, cleared by `bot resume`); open
  positions keep their stops and exits still go through.
"""

from __future__ import annotations

import inspect
import math
import traceback
from pathlib import Path

from bot.domain import Event, Signal
from bot.strategy.base import Strategy, StrategyContext

FAILURES_BEFORE_HALT = 10


class StrategyGuard:
    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.name = type(strategy).__name__
        self.file = inspect.getsourcefile(type(strategy)) or ""
        self.failures_in_a_row = 0

    @property
    def failing(self) -> bool:
        """True once the strategy has failed FAILURES_BEFORE_HALT times in a row."""
        return self.failures_in_a_row >= FAILURES_BEFORE_HALT

    def decide(self, ctx: StrategyContext) -> tuple[Signal, list[Event]]:
        ts = ctx.bar.ts
        try:
            signal = self.strategy.decide(ctx)
            _check(signal)
        except Exception as exc:  # noqa: BLE001 - user code may raise anything; the bar must go on
            self.failures_in_a_row += 1
            where = _where(exc, self.file)
            message = f"strategy {self.name} failed at {where}: {type(exc).__name__}: {exc}; no order on this bar"
            return (
                Signal(None, f"strategy error: {type(exc).__name__} at {where}"),
                [Event(ts, "strategy_error", message, "error", ctx.symbol)],
            )
        self.failures_in_a_row = 0
        if signal.target is not None and abs(signal.target) > 1.0:
            clamped = math.copysign(1.0, signal.target)
            event = Event(
                ts,
                "strategy_target_clamped",
                f"strategy {self.name} asked for a target of {signal.target:g}; clamped to {clamped:g}",
                "warning",
                ctx.symbol,
            )
            return Signal(clamped, signal.reason), [event]
        return signal, []


def _check(signal) -> None:
    if not isinstance(signal, Signal):
        raise TypeError(f"decide() returned {type(signal).__name__}, not a Signal")
    target = signal.target
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
        raise ValueError(f"target {target!r} is not a finite number or None")


def _where(exc: BaseException, strategy_file: str) -> str:
    """file:line of the strategy's own innermost line in the traceback (the
    line a user can fix), else of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    own = [f for f in frames if f.filename == strategy_file]
    frame = (own or frames)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}"
