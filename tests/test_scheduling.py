"""When the bar job fires: at each bar close plus the delay, for minute and
hour bars alike, and again shortly after when a closed bar comes late."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from freezegun import freeze_time
from helpers import rows, write_config

from bot.app.runtime import build_runtime
from bot.app.scheduling import SimulatedScheduler, bar_close_trigger, fixed_step_ms, to_datetime, to_ms
from bot.clock import SimulatedClock
from bot.config import load_config
from bot.domain import Bar
from bot.logging_setup import configure_logging

MINUTE, HOUR = 60_000, 3_600_000


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("timeframe_ms", "now", "expected"), [
    (MINUTE, "2024-03-01 10:00:30", "2024-03-01 10:01:05"),
    (MINUTE, "2024-03-01 10:01:04", "2024-03-01 10:01:05"),
    (MINUTE, "2024-03-01 10:01:06", "2024-03-01 10:02:05"),
    (HOUR, "2024-03-01 10:00:30", "2024-03-01 11:00:05"),
    (HOUR, "2024-03-01 23:59:59", "2024-03-02 00:00:05"),
])
def test_live_scheduler_fires_at_close_plus_delay(timeframe_ms: int, now: str, expected: str) -> None:
    """The real apscheduler, on a frozen clock, with the daemon's trigger."""
    with freeze_time(now):
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(lambda: None, bar_close_trigger(timeframe_ms, 5), id="bars")
        scheduler.start(paused=True)
        try:
            assert scheduler.get_job("bars").next_run_time == utc(expected)
        finally:
            scheduler.shutdown(wait=False)


@pytest.mark.parametrize("timeframe_ms", [MINUTE, HOUR])
def test_simulated_scheduler_fires_at_the_same_moments(timeframe_ms: int) -> None:
    start = to_ms(utc("2024-03-01 10:00:30"))
    clock = SimulatedClock(start)
    scheduler = SimulatedScheduler(clock)
    fired: list[int] = []
    scheduler.add_job(fired.append, bar_close_trigger(timeframe_ms, 5))
    scheduler.run(start + 5 * timeframe_ms)
    first_close = (start // timeframe_ms + 1) * timeframe_ms
    assert fired == [first_close + k * timeframe_ms + 5_000 for k in range(5)]
    assert clock.now_ms() == fired[-1]


@pytest.mark.parametrize("timeframe_ms", [MINUTE, 5 * MINUTE, HOUR, 4 * HOUR, 24 * HOUR])
@pytest.mark.parametrize("delay_seconds", [0, 5, 2.5, 0.001, 59.999])
def test_the_fixed_step_is_where_apscheduler_fires_next(timeframe_ms: int, delay_seconds: float) -> None:
    """The simulated scheduler adds the bar trigger's step instead of asking
    apscheduler each time: over thousands of fires the two agree exactly."""
    trigger = bar_close_trigger(timeframe_ms, delay_seconds)
    step = fixed_step_ms(trigger)
    assert step == timeframe_ms
    fire = trigger.get_next_fire_time(None, utc("2021-06-01 00:00:00"))
    mine = to_ms(fire)
    for _ in range(3_000):
        fire = trigger.get_next_fire_time(fire, fire)
        mine += step
        assert to_ms(fire) == mine


@pytest.mark.parametrize("trigger", [
    IntervalTrigger(seconds=60, jitter=5, start_date=to_datetime(0), timezone=UTC),
    IntervalTrigger(seconds=60, start_date=to_datetime(0), end_date=utc("2030-01-01 00:00:00"), timezone=UTC),
    IntervalTrigger(seconds=60.0005, start_date=to_datetime(0), timezone=UTC),
    IntervalTrigger(seconds=60, start_date=to_datetime(5) + (to_datetime(1) - to_datetime(0)) / 2, timezone=UTC),
])
def test_other_triggers_are_asked_every_time(trigger: IntervalTrigger) -> None:
    """Jitter, an end, or times off whole milliseconds: no fixed step."""
    assert fixed_step_ms(trigger) is None


def test_a_trigger_without_a_fixed_step_still_fires_in_order() -> None:
    clock = SimulatedClock(0)
    scheduler = SimulatedScheduler(clock)
    fired: list[tuple[str, int]] = []
    jittered = IntervalTrigger(seconds=60, jitter=0.0, start_date=to_datetime(0), timezone=UTC)
    scheduler.add_job(lambda now: fired.append(("jittered", now)), jittered)
    scheduler.add_job(lambda now: fired.append(("bars", now)), bar_close_trigger(MINUTE, 0))
    scheduler.run(3 * MINUTE)
    assert fired == [(name, k * MINUTE) for k in range(4) for name in ("jittered", "bars")]


class LatePublishingFeed:
    """Minute bars; each is served 1 s after it closes, except one served
    `lag_ms` after its close. Records what every call returned."""

    def __init__(self, late_open_ms: int, lag_ms: int) -> None:
        self.late_open_ms = late_open_ms
        self.lag_ms = lag_ms
        self.calls: list[tuple[int, list[int]]] = []

    def _published(self, ts: int, now_ms: int) -> bool:
        lag = self.lag_ms if ts == self.late_open_ms else 1_000
        return ts + MINUTE + lag <= now_ms

    def _bar(self, symbol: str, ts: int) -> Bar:
        price = 100 + (ts // MINUTE) % 13
        return Bar(symbol, ts, price, price + 1, price - 1, price + 0.5, 5.0)

    def fetch_range(self, symbol: str, start_ms: int, end_ms: int, now_ms: int) -> list[Bar]:
        first = -(-start_ms // MINUTE) * MINUTE
        bars = [self._bar(symbol, ts) for ts in range(first, end_ms, MINUTE) if self._published(ts, now_ms)]
        self.calls.append((now_ms, [b.ts for b in bars]))
        return bars

    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        start = since_ts + MINUTE if since_ts is not None else now_ms - 50 * MINUTE
        return self.fetch_range(symbol, start, now_ms, now_ms)


def test_a_late_bar_is_fetched_on_the_next_attempt(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"mode": "live", "timeframe": "1m",
                                     "schedule": {"bar_delay_seconds": 5, "late_retry_seconds": 10,
                                                  "late_retries": 3}})
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    start = to_ms(utc("2024-03-01 10:00:30"))
    late_bar = to_ms(utc("2024-03-01 10:03:00"))  # closes 10:04:00, published 10:04:20
    feed = LatePublishingFeed(late_bar, lag_ms=20_000)
    clock = SimulatedClock(start)
    rt = build_runtime(cfg, clock=clock, feed=feed)
    scheduler = SimulatedScheduler(clock)
    scheduler.add_job(rt.bar_job, bar_close_trigger(MINUTE, 5))
    rt.bar_job.schedule_retry = lambda when: scheduler.add_once(rt.bar_job, when)
    scheduler.run(to_ms(utc("2024-03-01 10:08:00")))
    rt.store.close()

    close = late_bar + MINUTE
    firings = [now - close for now, _ in feed.calls if close <= now < close + MINUTE]
    assert firings == [5_000, 15_000, 25_000]  # on time, then two retries 10 s apart
    delivered = [now - close for now, got in feed.calls if late_bar in got]
    assert delivered == [25_000]  # fetched by the first attempt after it was published
    stored = [ts for (ts,) in rows(tmp_path / "bot.sqlite", "SELECT ts FROM bars ORDER BY ts")]
    assert late_bar in stored and len(stored) == len(set(stored))
    assert all(b - a == MINUTE for a, b in zip(stored, stored[1:]))
