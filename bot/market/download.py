"""`bot download`: paged history from an exchange into the candles table.

Each page is committed on its own, so an interrupted download keeps what
it got and the next run continues after the newest stored candle. A second
pass asks again for every hole in the range; holes the exchange cannot
fill (it was down, the market did not exist yet) are reported, not
invented. Candles are screened like live bars: broken ones are rejected
with an event, duplicates keep the first copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import Bar
from bot.market.ccxt_feed import CcxtFeed
from bot.market.screening import BarScreen
from bot.store import Store
from bot.timeframes import grid_floor, grid_offset


@dataclass(frozen=True)
class DownloadResult:
    expected: int  # closed candles the range can hold
    stored: int  # of those, stored now
    requests: int
    holes: list[tuple[int, int]]  # (first, last) open times still missing


def closed_grid(since_ms: int, until_ms: int, now_ms: int, timeframe_ms: int) -> range:
    """Open times of the candles a range can hold that have closed by now."""
    offset = grid_offset(since_ms, timeframe_ms)
    first = since_ms + (timeframe_ms - offset if offset else 0)  # round up to the grid
    last_closed = grid_floor(now_ms, timeframe_ms) - timeframe_ms
    return range(first, min(until_ms - 1, last_closed) + 1, timeframe_ms)


def holes(grid: range, stored: set[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for ts in grid:
        if ts in stored:
            continue
        if runs and runs[-1][1] == ts - grid.step:
            runs[-1] = (runs[-1][0], ts)
        else:
            runs.append((ts, ts))
    return runs


class HistoryDownload:
    def __init__(self, feed: CcxtFeed, store: Store, exchange_id: str, symbol: str, timeframe: str) -> None:
        self.feed = feed
        self.store = store
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.timeframe = timeframe
        self.screen = BarScreen(feed.timeframe_ms, extreme_move_sigmas=float("inf"))
        self.requests = 0

    def run(
        self, since_ms: int, until_ms: int, now_ms: int, progress: Callable[[int], None] = lambda n: None
    ) -> DownloadResult:
        tf = self.feed.timeframe_ms
        grid = closed_grid(since_ms, until_ms, now_ms, tf)
        stored = {b.ts for b in self.store.candles(self.exchange_id, self.symbol, self.timeframe, since_ms, until_ms)}
        progress(len(stored))
        start = max(stored) + tf if stored else grid.start
        self._fetch(start, grid.stop, now_ms, stored, progress)
        for first, last in holes(grid, stored):
            self._fetch(first, last + tf, now_ms, stored, progress)
        return DownloadResult(len(grid), len(stored), self.requests, holes(grid, stored))

    def _fetch(self, start: int, end: int, now_ms: int, stored: set[int], progress: Callable[[int], None]) -> None:
        def store_page(page: list[Bar]) -> None:
            self.requests += 1
            screened = self.screen.screen(page, after=None)
            new = [b for b in screened.bars if b.ts not in stored]
            self.store.add_candles(self.exchange_id, self.timeframe, new, screened.events)
            stored.update(b.ts for b in new)
            progress(len(new))

        if start < end:
            self.feed.fetch_range(self.symbol, start, end, now_ms, on_page=store_page)
