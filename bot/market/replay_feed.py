"""Market data from CSV files, served by a simulated clock: at time `now`
only bars that have closed by then exist, exactly as from an exchange."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from bot.domain import Bar
from bot.market.csv_format import DataFileError, read_ohlcv_csv
from bot.timeframes import grid_offset, grid_origin_ms


def check_spacing(path: Path, ts: np.ndarray, timeframe_ms: int) -> None:
    """The most common step between bars is the file's timeframe; a config
    that says otherwise would mislabel every bar (gaps are allowed)."""
    _check_alignment(path, ts, timeframe_ms)
    steps = np.diff(np.unique(ts))
    if len(steps) == 0:
        return
    values, counts = np.unique(steps, return_counts=True)
    usual = int(values[np.argmax(counts)])
    if usual != timeframe_ms:
        raise DataFileError(
            f"{path}: its bars are {usual / 60_000:g} minutes apart, but timeframe is "
            f"{timeframe_ms / 60_000:g} minutes; set timeframe to match the data"
        )


def _check_alignment(path: Path, ts: np.ndarray, timeframe_ms: int) -> None:
    """Bars open on the timeframe's boundaries (whole hours for 1h). One
    bar off them is rejected when its turn comes; a file where most are off
    would be rejected bar by bar, so it is refused whole."""
    offsets = (ts - grid_origin_ms(timeframe_ms)) % timeframe_ms
    off = int(np.count_nonzero(offsets))
    if off * 2 <= len(ts):
        return
    example = int(ts[np.flatnonzero(offsets)[0]])
    raise DataFileError(
        f"{path}: {off} of its {len(ts)} bars do not open on a whole {timeframe_ms / 60_000:g}-minute boundary "
        f"(timestamp {example} is {grid_offset(example, timeframe_ms)} ms past one)"
    )


class ReplayFeed:
    def __init__(
        self, files: dict[str, Path], timeframe_ms: int, start_ms: int | None = None, end_ms: int | None = None
    ) -> None:
        self.timeframe_ms = timeframe_ms
        self._ts: dict[str, list[int]] = {}
        self._rows: dict[str, np.ndarray] = {}
        for symbol, path in files.items():
            frame = read_ohlcv_csv(path)
            check_spacing(path, frame.timestamp.to_numpy(), timeframe_ms)
            if start_ms is not None:
                frame = frame[frame.timestamp >= start_ms]
            if end_ms is not None:
                frame = frame[frame.timestamp < end_ms]
            self._ts[symbol] = frame.timestamp.tolist()
            self._rows[symbol] = frame[["open", "high", "low", "close", "volume"]].to_numpy()

    def bar_count(self) -> int:
        return sum(len(ts) for ts in self._ts.values())

    def bar_counts(self) -> dict[str, int]:
        """Bars of each symbol."""
        return {symbol: len(ts) for symbol, ts in self._ts.items()}

    def first_ts(self) -> int | None:
        firsts = [ts[0] for ts in self._ts.values() if ts]
        return min(firsts) if firsts else None

    def last_ts(self) -> int | None:
        lasts = [ts[-1] for ts in self._ts.values() if ts]
        return max(lasts) if lasts else None

    def ends(self) -> dict[str, int]:
        """Each symbol's last bar (its open time), for symbols with any."""
        return {symbol: ts[-1] for symbol, ts in self._ts.items() if ts}

    def covers(self, symbol: str, ts: int) -> bool:
        """Whether bar time `ts` lies within the symbol's bars, first to last."""
        times = self._ts.get(symbol) or []
        return bool(times) and times[0] <= ts <= times[-1]

    def sampled_times(self, symbol: str, last_ts: int, count: int) -> list[int]:
        """About `count` of the symbol's bar times up to `last_ts`, evenly
        spread from the first, the last of them included."""
        times = self._ts.get(symbol) or []
        stop = bisect.bisect_right(times, last_ts)
        if stop == 0:
            return []
        step = max(1, stop // count)
        return sorted({*times[0:stop:step], times[stop - 1]})

    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        """Bars opened after `since_ts` that have closed by `now_ms`."""
        start = 0 if since_ts is None else bisect.bisect_right(self._ts[symbol], since_ts)
        return self._slice(symbol, start, now_ms - self.timeframe_ms)

    def fetch_range(self, symbol: str, start_ms: int, end_ms: int, now_ms: int) -> list[Bar]:
        """Bars with start_ms <= open < end_ms that have closed by `now_ms`."""
        start = bisect.bisect_left(self._ts[symbol], start_ms)
        return self._slice(symbol, start, min(end_ms - 1, now_ms - self.timeframe_ms))

    def _slice(self, symbol: str, start: int, last_open_ms: int) -> list[Bar]:
        ts, rows = self._ts[symbol], self._rows[symbol]
        stop = bisect.bisect_right(ts, last_open_ms)
        # One conversion for the slice: a row at a time cost a numpy call per bar.
        return [Bar(symbol, t, *row) for t, row in zip(ts[start:stop], rows[start:stop].tolist(), strict=True)]
