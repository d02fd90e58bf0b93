"""The scheduled job of the daemon, shared by live mode (apscheduler calls
it at each bar close plus a delay) and replay (the simulated scheduler calls
it as fast as it can): fetch closed bars, validate, step the engine, then
retrain if that is due."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import structlog

from bot.domain import Bar, Event
from bot.engine import Engine
from bot.market.validation import bar_problem
from bot.model.retrain import Retrainer
from bot.store import Store
from bot.timeframes import iso_utc

log = structlog.get_logger("bot.jobs")


class MarketData(Protocol):
    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        """Closed bars opened after since_ts, oldest first."""


class BarJob:
    def __init__(self, *, feed: MarketData, engine: Engine, store: Store, retrainer: Retrainer,
                 timeframe_ms: int, symbols: list[str],
                 run_retrain: Callable[[int], None] | None = None) -> None:
        self.feed = feed
        self.engine = engine
        self.store = store
        self.retrainer = retrainer
        self.timeframe_ms = timeframe_ms
        self.symbols = symbols
        # Replay retrains inline (deterministic); live hands it to a worker.
        self.run_retrain = run_retrain or retrainer.run
        self.bars_processed = 0
        # Newest bar fetched per symbol, rejected ones included, so a broken
        # bar is reported once instead of at every firing.
        self.fetched_ts: dict[str, int] = {}

    def __call__(self, now_ms: int) -> int:
        """One firing at clock time now_ms; returns the number of bars stepped."""
        by_ts: dict[int, list[Bar]] = defaultdict(list)
        for symbol in self.symbols:
            for bar in self._valid_bars(symbol, now_ms):
                by_ts[bar.ts].append(bar)
        for ts in sorted(by_ts):
            self.engine.step(by_ts[ts])
            self.bars_processed += len(by_ts[ts])
        if self.retrainer.is_due(now_ms):
            self.run_retrain(now_ms)
        return sum(len(b) for b in by_ts.values())

    def _valid_bars(self, symbol: str, now_ms: int) -> list[Bar]:
        previous = self.engine.last_ts.get(symbol)
        since = max(self.fetched_ts.get(symbol, -1), previous if previous is not None else -1)
        valid = []
        for bar in self.feed.fetch_closed(symbol, since if since >= 0 else None, now_ms):
            self.fetched_ts[symbol] = max(bar.ts, self.fetched_ts.get(symbol, bar.ts))
            problem = bar_problem(bar, self.timeframe_ms, previous)
            if problem is not None:
                self._reject(bar, problem)
                continue
            valid.append(bar)
            previous = bar.ts
        return valid

    def _reject(self, bar: Bar, problem: str) -> None:
        self.store.add_event(Event(
            bar.ts, "bar_rejected", problem, level="warning", symbol=bar.symbol,
            data={"bar_time": iso_utc(bar.ts), "open": bar.open, "high": bar.high, "low": bar.low,
                  "close": bar.close, "volume": bar.volume}))
        log.warning("bar_rejected", symbol=bar.symbol, bar_time=iso_utc(bar.ts), reason=problem)

