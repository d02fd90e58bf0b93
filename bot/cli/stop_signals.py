"""SIGINT and SIGTERM during a replay: the run stops at once, keeps what it
committed, and says so in one line, however stuck the strategy is.

A replay steps on the main thread, so a stop is an exception raised there,
wherever it is: inside a strategy that sleeps or loops for ever, the step
in flight is abandoned before it writes anything, and closing the run
commits the steps done before it (a replay groups several into one
transaction). SIGTERM used to kill the process with no word and without
those steps; Ctrl+C alone stopped it.

A strategy may swallow the exception (`except BaseException: pass` in a
loop). The first signal therefore also arms a backstop: a process still
alive STOP_GRACE_SECONDS later says so and exits at once, as the live
daemon abandons a stuck step after its grace. Only what was committed is
kept then; a restart redoes the rest the same way (a replay is
deterministic). A second signal raises nothing: it must not cut short the
commit the first one is waiting for.

There is no time limit on a strategy call, here or live: the same replay
must give the same fills on any machine, and live mode only reports a step
that does not end (bot/app/step_watchdog.py)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from bot.cli.common import exit_now, say_error
from bot.stop_grace import STOP_GRACE_SECONDS, Stopped


@contextlib.contextmanager
def stopped_by_signals(grace_s: float = STOP_GRACE_SECONDS) -> Iterator[None]:
    """SIGINT and SIGTERM raise Stopped in the main thread, once, while
    the block runs; the backstop they arm outlives the block."""
    asked: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if asked:
            return
        asked.append(signum)
        _arm_backstop(signum, grace_s)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _arm_backstop(signum: int, grace_s: float) -> None:
    """Exit 128 + signum in `grace_s` seconds unless the process is gone by then."""
    name = signal.Signals(signum).name

    def give_up() -> None:
        say_error(
            f"stopped by {name}: still running {grace_s:g} s later (a strategy that ignores the stop?); "
            "exiting now, with what was committed before"
        )
        exit_now(128 + signum)

    timer = threading.Timer(grace_s, give_up)
    timer.daemon = True  # the exit never waits on it
    timer.start()
