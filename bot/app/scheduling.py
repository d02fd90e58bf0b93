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

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bar_close_trigger(timeframe_ms: int, delay_seconds: float) -> IntervalTrigger:
    # Bars are aligned to the epoch (00:00 UTC for daily bars), as on exchanges.
    return IntervalTrigger(
        seconds=timeframe_ms / 1000, start_date=EPOCH + timedelta(seconds=delay_seconds), timezone=UTC
    )


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class SimulatedScheduler:
    """Runs jobs at their apscheduler trigger times on a simulated clock, as
    fast as the machine allows. Jobs due at the same moment run in the order
    they were added; a job may add one-shot jobs (late retries) while it runs."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._jobs: list[list] = []  # [next fire, order added, func, trigger]
        self._added = 0

    def add_job(self, func: Callable[[int], object], trigger: BaseTrigger) -> None:
        first = trigger.get_next_fire_time(None, to_datetime(self.clock.now_ms()))
        if first is not None:
            self._jobs.append([first, self._added, func, trigger])
            self._added += 1

    def add_once(self, func: Callable[[int], object], when_ms: int) -> None:
        self.add_job(func, DateTrigger(to_datetime(when_ms), timezone=UTC))

    def run(self, until_ms: int, stop: Callable[[], bool] = lambda: False) -> bool:
        """Fire due jobs from the clock's current time up to until_ms; True
        when it got there, False when `stop` said to stop first."""
        while not stop():
            if not self._jobs:
                return True
            job = min(self._jobs, key=lambda j: (j[0], j[1]))
            fire, _, func, trigger = job
            fire_ms = to_ms(fire)
            if fire_ms > until_ms:
                return True
            self.clock.advance_to(fire_ms)
            func(fire_ms)
            following = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
            if following is None:
                self._jobs.remove(job)
            else:
                job[0] = following
        return False
