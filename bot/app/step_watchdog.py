"""A bar step that does not end is said, with where it is stuck.

A step runs to its end before the next may start, so one that never ends
(a strategy in an endless loop, a call that never returns, a lock held
elsewhere) left the daemon up but blind: no bar stepped, no paper stop
checked, no event and no notification; a stop (SIGTERM) worked, nothing else
showed it. The watchdog runs on its own thread and, once a step has run
`limit_s`, reports it once with the line it is on; when the step ends at
last, it says that too. It cannot end the step: Python cannot stop a
thread from outside, and a step half done must not be skipped."""

from __future__ import annotations

import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bot.domain import Event

# Frames in these directories are the interpreter's and the libraries';
# the line an operator can act on is the innermost one outside them.
_NOT_OURS = tuple(str(Path(p).resolve()) for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("purelib")} if p)


class StepWatchdog:
    def __init__(self, limit_s: float, report: Callable[[Event], None], now_ms: Callable[[], int]) -> None:
        self.limit_s = limit_s
        self.report = report
        self.now_ms = now_ms
        self._lock = threading.Lock()
        self._started: float | None = None
        self._thread: int | None = None
        self._reported = False

    def begin(self) -> None:
        with self._lock:
            self._started, self._thread, self._reported = time.monotonic(), threading.get_ident(), False

    def end(self) -> None:
        with self._lock:
            started, reported = self._started, self._reported
            self._started, self._thread, self._reported = None, None, False
        if reported and started is not None:
            seconds = time.monotonic() - started
            self.report(Event(self.now_ms(), "bar_step_unstuck", f"the stuck bar step ended after {seconds:,.0f} s"))

    def check(self) -> None:
        """Report a step in flight beyond the limit, once per step."""
        with self._lock:
            if self._started is None or self._reported:
                return
            seconds = time.monotonic() - self._started
            if seconds < self.limit_s:
                return
            self._reported = True
            thread = self._thread
        message = (
            f"a bar step has run for {seconds:,.0f} s (schedule.stuck_step_seconds {self.limit_s:g}), "
            f"{stuck_at(thread)}; no other bar steps until it ends, and no paper stop is checked meanwhile"
        )
        self.report(Event(self.now_ms(), "bar_step_stuck", message, level="error"))


def stuck_at(thread: int | None) -> str:
    """'at file:line in function' of the thread's innermost own frame."""
    frame = sys._current_frames().get(thread) if thread is not None else None
    if frame is None:
        return "at an unknown line"
    stack = traceback.extract_stack(frame)
    own = [f for f in stack if not str(Path(f.filename).resolve()).startswith(_NOT_OURS)]
    shown = (own or stack)[-1]
    where = f"at {Path(shown.filename).name}:{shown.lineno} in {shown.name}"
    innermost = stack[-1]
    if innermost is not shown:
        where += f" (waiting in {Path(innermost.filename).name}:{innermost.lineno} in {innermost.name})"
    return where
