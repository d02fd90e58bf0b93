"""The scheduled job of the daemon, shared by live mode (apscheduler calls
it at each bar close plus a delay) and replay (the simulated scheduler calls
it as fast as it can): fetch closed bars, screen them, step the engine in
time order, then retrain if that is due.

Every closed bar is stepped exactly once and in order. A hole in a
symbol's history is asked for again at the next `gap_retries` firings; until
it is filled or given up on, the bars after it wait, so that symbol is
neither stepped nor traded. A bar that should have closed but is not served
yet is asked for again `late_retry_seconds` later instead of a bar later.
In live mode a bar with an extreme close or wick waits the same way until
its price is confirmed (`market/price_gate.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bot.app.fetch_streaks import FetchStreaks
from bot.app.retrain import Retrainer
from bot.app.stalls import StallWatch
from bot.domain import Bar, Event
from bot.engine import Engine
from bot.logging_setup import log_event
from bot.market.errors import MarketDataError
from bot.market.price_gate import PriceGate
from bot.market.screening import BarScreen
from bot.ports import MarketData
from bot.store import Store
from bot.timeframes import grid_floor, iso_utc

log = structlog.get_logger("bot.app.jobs")


@dataclass(frozen=True)
class RetryPolicy:
    gap_retries: int = 0  # 0: a hole is final at once (replay: the CSV is the whole truth)
    late_retries: int = 0
    late_retry_ms: int = 10_000
    hold_extremes: bool = False  # live: an extreme price waits for confirmation
    stall_bars: int = 0  # live: bars behind before a symbol's stall is said (0: never; see stalls.py)


class BarJob:
    def __init__(
        self,
        *,
        feed: MarketData,
        engine: Engine,
        store: Store,
        retrainer: Retrainer,
        timeframe_ms: int,
        symbols: list[str],
        screen: BarScreen,
        policy: RetryPolicy = RetryPolicy(),
        run_retrain: Callable[[int], None] | None = None,
        schedule_retry: Callable[[int], None] | None = None,
        notify: Callable[[Event], None] | None = None,
    ) -> None:
        self.feed = feed
        self.engine = engine
        self.store = store
        self.retrainer = retrainer
        self.timeframe_ms = timeframe_ms
        self.symbols = symbols
        self.screen = screen
        self.policy = policy
        self.gate = PriceGate(screen) if policy.hold_extremes else None
        # Replay retrains inline (deterministic); live hands it to a worker.
        self.run_retrain = run_retrain or retrainer.run
        # Live mode: run this job again at a given time when a bar is late.
        self.schedule_retry = schedule_retry
        self.bars_processed = 0
        # The bar job's own events go here too (the engine's go from its
        # commits): the notifier's queue, which never blocks.
        self.notify = notify or (lambda event: None)
        self.fetch_streaks = FetchStreaks()
        # Told the newest bar of each firing that stepped one (the daily summary).
        self.after_step: Callable[[int], None] | None = None
        self.stalls = StallWatch(timeframe_ms, policy.stall_bars)
        self._gap_attempts: dict[tuple[str, int], int] = {}
        self._late_attempts: dict[int, int] = {}

    def __call__(self, now_ms: int) -> int:
        """One firing at clock time now_ms; returns the number of bars stepped."""
        by_ts: dict[int, list[Bar]] = defaultdict(list)
        for symbol in self.symbols:
            for bar in self._next_bars(symbol, now_ms):
                by_ts[bar.ts].append(bar)
        for ts in sorted(by_ts):
            flags = [e for e in map(self.screen.observe, by_ts[ts]) if e is not None]
            self.engine.step(by_ts[ts], flags)
        stepped = sum(len(b) for b in by_ts.values())
        self.bars_processed += stepped
        if by_ts and self.after_step is not None:
            self.after_step(max(by_ts))
        self._retry_if_late(now_ms)
        self._events(self.stalls.events(now_ms, self.engine.last_ts))
        if self.retrainer.is_due(now_ms):
            self.run_retrain(now_ms)
        return stepped

    # -- one symbol --------------------------------------------------------

    def _next_bars(self, symbol: str, now_ms: int) -> list[Bar]:
        last = self.engine.last_ts.get(symbol)
        try:
            screened = self.screen.screen(self.feed.fetch_closed(symbol, last, now_ms), last)
        except MarketDataError as exc:
            self._fetch_failed(symbol, exc, now_ms)
            return []
        self._events(screened.events)
        accepted: list[Bar] = []
        previous = last
        for bar in screened.bars:
            if previous is not None and bar.ts - previous > self.timeframe_ms:
                filled = self._fill_gap(symbol, previous, bar.ts, now_ms)
                if filled is None:
                    break  # the rest waits for the hole
                accepted.extend(filled)
            accepted.append(bar)
            previous = bar.ts
        if not self.fetch_streaks.failed_since(symbol, now_ms):
            self.fetch_streaks.ended(symbol)  # the firing's fetches (a hole's too) all worked
        if self.gate is None:
            return accepted
        gate_events: list[Event] = []
        times = [bar.ts for bar in accepted]
        followed = dict(zip(times, [last, *times], strict=False))  # each bar: the one before it, as first judged
        confirmed = self.gate.admit(
            symbol, accepted, lambda bar: self._ask_again(bar, followed[bar.ts], now_ms), gate_events
        )
        self._events(gate_events)
        return confirmed

    def _ask_again(self, bar: Bar, after: int | None, now_ms: int) -> Bar | None:
        """The exchange's copy of one bar, fetched anew (None: no answer),
        screened after `after`, the bar it followed. A broken copy confirms
        nothing; but a copy judged as if it came right after the close before
        a hole of days was rejected as implausible where the first copy had
        been taken, held back, and the hole asked for all over again: the
        stop of a position open across it waited out the gap retries twice."""
        try:
            raw = self.feed.fetch_range(bar.symbol, bar.ts, bar.ts + self.timeframe_ms, now_ms)
        except MarketDataError:
            return None
        screened = self.screen.screen(raw, after)
        self._events(screened.events)
        return next((b for b in screened.bars if b.ts == bar.ts), None)

    def _fill_gap(self, symbol: str, after: int, before: int, now_ms: int) -> list[Bar] | None:
        """Bars found for the hole between two bars; None while the hole is
        still waiting to be filled."""
        try:
            found = self.screen.screen(self.feed.fetch_range(symbol, after + self.timeframe_ms, before, now_ms), after)
        except MarketDataError as exc:
            self._fetch_failed(symbol, exc, now_ms)
            return None
        self._events(found.events)
        missing = (before - after) // self.timeframe_ms - 1 - len(found.bars)
        if missing == 0:
            return found.bars
        key = (symbol, after)
        attempts = self._gap_attempts.get(key, 0) + 1
        self._gap_attempts[key] = attempts
        gap = {
            "from": iso_utc(after + self.timeframe_ms),
            "to": iso_utc(before - self.timeframe_ms),
            "missing_bars": missing,
        }
        if attempts <= self.policy.gap_retries:
            if attempts == 1:
                self._event(
                    Event(
                        now_ms,
                        "gap_pending",
                        f"{missing} bars missing; holding {symbol}",
                        level="warning",
                        symbol=symbol,
                        data=gap,
                    )
                )
            return None
        self._event(
            Event(
                now_ms,
                "gap_unfilled",
                # Neutral about the source: in replay the hole is the file's
                # (or a bar the screen rejected), not an exchange's.
                f"{missing} bars missing from the data for good; {symbol} goes on without them",
                level="warning",
                symbol=symbol,
                data=gap,
            )
        )
        del self._gap_attempts[key]
        return found.bars

    # -- late bars ---------------------------------------------------------

    def _retry_if_late(self, now_ms: int) -> None:
        """Ask again soon when the bar that just closed is not here yet."""
        if self.schedule_retry is None or self.policy.late_retries == 0:
            return
        expected = grid_floor(now_ms, self.timeframe_ms) - self.timeframe_ms  # newest closed open time
        late = [s for s in self.symbols if self.engine.last_ts.get(s, -1) < expected]
        if not late:
            self._late_attempts.pop(expected, None)
            return
        attempts = self._late_attempts.get(expected, 0)
        if attempts < self.policy.late_retries:
            self._late_attempts = {expected: attempts + 1}
            self.schedule_retry(now_ms + self.policy.late_retry_ms)
            log.info("bar_late", symbols=late, bar_time=iso_utc(expected), retry_in_ms=self.policy.late_retry_ms)

    # -- events ------------------------------------------------------------

    def _events(self, events: list[Event]) -> None:
        for e in events:
            self._event(e)

    def _event(self, e: Event, notify: bool = True) -> None:
        self.store.add_event(e)
        log_event(log, e)
        if notify:
            self.notify(e)

    def _fetch_failed(self, symbol: str, exc: MarketDataError, now_ms: int) -> None:
        """Every failure is stored (the data-quality counts count them) and
        logged; a person is told when a streak starts (fetch_streaks.py)."""
        e = Event(now_ms, "fetch_failed", str(exc), level="error", symbol=symbol)
        self._event(e, notify=self.fetch_streaks.starts(symbol, e.message, now_ms))

    def record(self, e: Event) -> None:
        """An event about the data from outside the job (the replay's end
        of a symbol's file): stored, logged and notified as the job's own."""
        self._event(e)
