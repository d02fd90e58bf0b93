"""A strategy is user code. What it returns is checked and what it raises
is caught, one bar at a time, so that a bug in it can neither move money
beyond the risk budget nor stop the daemon:

- an exception: no order for this bar (positions keep their stops), and an
  error event naming the strategy, the exception and the line that raised;
- a target outside [-1, 1]: clamped to the nearest bound, with a warning
  event (a target of 7.5 must not become 7.5 times the position limit);
- anything that is not a Signal with a finite target or None and a text
  reason: treated as an exception (a reason of None or a dict failed the
  step's commit, every restart again, stop fills included);
- sys.exit() inside decide(): treated as an exception (it stopped a replay
  without a word, exit 0 if the strategy said so, and silenced a live
  daemon bar after bar); a KeyboardInterrupt still stops the daemon, since
  it is how Ctrl+C arrives;
- FAILURES_BEFORE_HALT failures in a row: new entries are halted (the risk
  manager's halt, shown by `bot status`, cleared by `bot resume`); open
  positions keep their stops and exits still go through;
- the same failure bar after bar (the same exception type at the same line,
  on the same symbol) is one error event, not one per bar: a strategy broken
  for good sent an error notification every bar, forever. Every such bar's
  prediction row still says why no order was made, and the first bar that
  decides again says how many failed before it.
"""

from __future__ import annotations

import inspect
import math
import numbers
import traceback
from pathlib import Path

import numpy as np

from bot.brief_text import brief
from bot.domain import Event, Signal
from bot.strategy.base import Strategy, StrategyContext

REASON_CHARACTERS = 500  # of a signal's reason, as stored and shown

FAILURES_BEFORE_HALT = 10


class StrategyGuard:
    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.name = type(strategy).__name__
        self.file = inspect.getsourcefile(type(strategy)) or ""
        self.failures_in_a_row = 0
        self.failing_since: dict[str, tuple[tuple[str, str, str], int]] = {}  # symbol -> (last fault, failed bars)

    @property
    def failing(self) -> bool:
        """True once the strategy has failed FAILURES_BEFORE_HALT times in a row."""
        return self.failures_in_a_row >= FAILURES_BEFORE_HALT

    def decide(self, ctx: StrategyContext) -> tuple[Signal, list[Event]]:
        ts = ctx.bar.ts
        try:
            returned = self.strategy.decide(ctx)
        # Ctrl+C alone goes through: a strategy's GeneratorExit crashed the
        # run with a traceback, and every restart at the same bar.
        except (Exception, SystemExit, GeneratorExit) as exc:  # noqa: BLE001 - user code may raise anything
            return self._failed(ctx, exc, f"at {_where(exc, self.file)}", "")
        try:
            signal = _checked(returned)
        except (Exception, SystemExit, GeneratorExit) as exc:  # noqa: BLE001 - a number type may raise anything
            # Told apart by what is wrong: the line is the guard's, not the strategy's.
            return self._failed(ctx, exc, "in what decide() returned", str(exc))
        self.failures_in_a_row = 0
        events = self._recovered(ctx)
        if signal.target is not None and abs(signal.target) > 1.0:
            clamped = math.copysign(1.0, signal.target)
            event = Event(
                ts,
                "strategy_target_clamped",
                f"strategy {self.name} asked for a target of {signal.target:g}; clamped to {clamped:g}",
                "warning",
                ctx.symbol,
            )
            return Signal(clamped, signal.reason), [*events, event]
        return signal, events

    def _failed(self, ctx: StrategyContext, exc: BaseException, where: str, detail: str) -> tuple[Signal, list[Event]]:
        """No order on this bar; an error event if the failure is new to this
        symbol's streak (another exception, line or fault in the return)."""
        self.failures_in_a_row += 1
        kind = type(exc).__name__
        fault = (kind, where, detail)
        signal = Signal(None, f"strategy error: {kind} {where}")
        seen = self.failing_since.get(ctx.symbol)
        failed_bars = (seen[1] if seen else 0) + 1
        self.failing_since[ctx.symbol] = (fault, failed_bars)
        if seen is not None and seen[0] == fault:
            return signal, []
        said = _plain(brief(str(exc), 300))
        message = f"strategy {self.name} failed {where}: {kind}: {said}; no order on this bar"
        return signal, [Event(ctx.bar.ts, "strategy_error", message, "error", ctx.symbol)]

    def _recovered(self, ctx: StrategyContext) -> list[Event]:
        """An info event when a symbol's failing streak ends."""
        seen = self.failing_since.pop(ctx.symbol, None) if self.failing_since else None
        if seen is None:
            return []
        message = f"strategy {self.name} decides again after {seen[1]} failed bar(s) in a row"
        return [Event(ctx.bar.ts, "strategy_recovered", message, "info", ctx.symbol)]


def _checked(signal) -> Signal:
    """`signal` with a float target (numpy's numbers included) and a reason
    the store can hold, or TypeError/ValueError saying what is wrong."""
    if not isinstance(signal, Signal):
        raise TypeError(f"decide() returned {type(signal).__name__}, not a Signal")
    if not isinstance(signal.reason, str):
        raise TypeError(f"the reason is {type(signal.reason).__name__}, not text")
    target = signal.target
    if target is not None:
        if isinstance(target, bool | np.bool_) or not isinstance(target, numbers.Real):
            raise ValueError(f"target {brief(repr(target))} is not a number or None")
        if not math.isfinite(target):
            raise ValueError(f"target {target!r} is not a finite number or None")
        target = float(target)
    # Bounded: a reason of 10 MB was stored whole at every bar (510 MB of
    # database in 50 bars).
    return Signal(target, brief(_plain(signal.reason), REASON_CHARACTERS))


def _plain(text: str) -> str:
    """Text PostgreSQL can store: a NUL byte in a reason or an exception's
    message failed the step's commit there."""
    return text.replace("\x00", "\\x00")


def _where(exc: BaseException, strategy_file: str) -> str:
    """file:line of the strategy's own innermost line in the traceback (the
    line a user can fix), else of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    own = [f for f in frames if f.filename == strategy_file]
    frame = (own or frames)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}"
