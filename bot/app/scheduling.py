"""When the bar job fires: at each bar close plus a delay. The same
apscheduler trigger serves the live scheduler and the simulated one, so
replay fires at exactly the moments live mode would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import SimulatedClock
from bot.timeframes import grid_origin_ms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bar_close_trigger(timeframe_ms: int, delay_seconds: float) -> IntervalTrigger:
    # Bars are aligned to the epoch (00:00 UTC for daily bars), weeks to a
    # Monday, as on exchanges.
    start = EPOCH + timedelta(milliseconds=grid_origin_ms(timeframe_ms), seconds=delay_seconds)
    return IntervalTrigger(seconds=timeframe_ms / 1000, start_date=start, timezone=UTC)


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class _Job:
    """A job's next fire time. `fire`, the trigger's own datetime, is kept
    up to date only where the trigger is asked (step_ms None): with a
    fixed step, fire_ms alone moves."""

    __slots__ = ("fire_ms", "order", "func", "trigger", "fire", "step_ms")

    def __init__(self, fire: datetime, order: int, func: Callable[[int], object], trigger: BaseTrigger) -> None:
        self.fire, self.fire_ms, self.order = fire, to_ms(fire), order
        self.func, self.trigger = func, trigger
        self.step_ms = fixed_step_ms(trigger)

    def advance(self) -> bool:
        """Move to the next fire time; False when the trigger has none."""
        if self.step_ms is not None:
            self.fire_ms += self.step_ms
            return True
        following = self.trigger.get_next_fire_time(self.fire, self.fire + timedelta(microseconds=1))
        if following is None:
            return False
        self.fire, self.fire_ms = following, to_ms(following)
        return True


def fixed_step_ms(trigger: BaseTrigger) -> int | None:
    """The step of a trigger whose next fire time is always the previous
    one plus a whole number of milliseconds, counted from a whole
    millisecond: an interval trigger with no jitter and no end, such as
    the bar trigger; None for any other, which is asked every time.
    Asking apscheduler (float seconds to a zoned datetime and back) cost
    about 5 us a fire, a fortieth of a replayed bar; the step lands on the
    same milliseconds (tests/test_scheduling.py)."""
    if not isinstance(trigger, IntervalTrigger) or trigger.jitter is not None or trigger.end_date is not None:
        return None
    step_us = trigger.interval // timedelta(microseconds=1)
    if step_us % 1000 or trigger.start_date.microsecond % 1000:
        return None
    return step_us // 1000


class SimulatedScheduler:
    """Runs jobs at their apscheduler trigger times on a simulated clock, as
    fast as the machine allows. Jobs due at the same moment run in the order
    they were added; a job may add one-shot jobs (late retries) while it runs."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._jobs: list[_Job] = []
        self._added = 0

    def add_job(self, func: Callable[[int], object], trigger: BaseTrigger) -> None:
        first = trigger.get_next_fire_time(None, to_datetime(self.clock.now_ms()))
        if first is not None:
            self._jobs.append(_Job(first, self._added, func, trigger))
            self._added += 1

    def add_once(self, func: Callable[[int], object], when_ms: int) -> None:
        self.add_job(func, DateTrigger(to_datetime(when_ms), timezone=UTC))

    def run(self, until_ms: int, stop: Callable[[], bool] = lambda: False) -> bool:
        """Fire due jobs from the clock's current time up to until_ms; True
        when it got there, False when `stop` said to stop first."""
        jobs = self._jobs
        while not stop():
            if not jobs:
                return True
            job = jobs[0] if len(jobs) == 1 else min(jobs, key=lambda j: (j.fire_ms, j.order))
            if job.fire_ms > until_ms:
                return True
            self.clock.advance_to(job.fire_ms)
            job.func(job.fire_ms)
            if not job.advance():
                jobs.remove(job)
        return False
