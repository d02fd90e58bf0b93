"""Turns what a feed returned into bars the engine may use, per symbol:
sorted, duplicates resolved (the first copy wins; a copy with other values
is a conflict worth reporting), broken bars rejected with a reason, and
extreme moves flagged. Every finding becomes an Event; each is reported once
even when the same raw bars are fetched again at the next firing."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from bot.domain import PRICE_LEVEL_CHANGED, Bar, Event
from bot.market.reported_once import ReportedOnce
from bot.market.validation import MAX_MOVE_FACTOR, bar_problem, within_tenfold
from bot.timeframes import iso_utc

_VOLATILITY_WINDOW = 48  # returns behind the extreme-move test
# The spread a window is judged by at least: one basis point a bar. A flat
# window (a pegged pair, a market that did not trade) has none, and a move
# measured against nothing was never flagged, so a misprint went through.
_MIN_SPREAD = 1e-4
_MAX_REMEMBERED = 10_000  # findings remembered to avoid repeating events


def _bar_data(bar: Bar) -> dict:
    return {
        "bar_time": iso_utc(bar.ts),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
    }


def _beyond_tenfold(bar: Bar, previous: float) -> tuple[str, float]:
    """The part of the bar that lies beyond tenfold of `previous`: its close
    when that does, else the wick that does. The message had always named
    the close, '0.999 times the last accepted close', for a bar whose low
    alone had reached a twentieth."""
    if not previous / MAX_MOVE_FACTOR <= bar.close <= previous * MAX_MOVE_FACTOR:
        return "close", bar.close
    return ("low", bar.low) if bar.low < previous / MAX_MOVE_FACTOR else ("high", bar.high)


def _level_changed(bar: Bar, previous: float) -> Event:
    part, price = _beyond_tenfold(bar, previous)
    return Event(
        bar.ts,
        PRICE_LEVEL_CHANGED,
        f"a new price level taken: {part} {price:g}, {price / previous:,.4g} times the last accepted close "
        f"{previous:g}, after more than a day with no bar accepted (missing, or rejected as implausible): a real "
        "crash or jump; or a feed that switched units, or a redenomination, whose change would be booked as profit "
        "or loss",
        level="error",
        symbol=bar.symbol,
        data=_bar_data(bar),
    )


@dataclass
class Screened:
    bars: list[Bar] = field(default_factory=list)  # valid, strictly ascending, newer than `after`
    events: list[Event] = field(default_factory=list)


class BarScreen:
    def __init__(self, timeframe_ms: int, extreme_move_sigmas: float) -> None:
        self.timeframe_ms = timeframe_ms
        self.sigmas = extreme_move_sigmas
        self._reported = ReportedOnce(_MAX_REMEMBERED)
        self._returns: dict[str, deque[float]] = {}
        self._last_close: dict[str, float] = {}
        # _spread's answer per symbol until its window moves: the screen
        # asks before the engine accepts a bar and observe() again after,
        # of the same window.
        self._spreads: dict[str, tuple[float, float] | None] = {}

    def screen(self, raw: list[Bar], after: int | None) -> Screened:
        """Valid bars of one symbol opened after `after`, with findings."""
        out = Screened()
        previous = after
        previous_close = self._last_close.get(raw[0].symbol) if raw else None
        for bar in self._first_copies(sorted(raw, key=lambda b: b.ts), out):
            if after is not None and bar.ts <= after:
                continue  # already stored: asked for again around a gap
            problem = bar_problem(bar, self.timeframe_ms, previous, previous_close)
            if problem is not None:
                self._report(out, bar, "bar_rejected", problem)
                continue
            out.bars.append(bar)
            previous, previous_close = bar.ts, bar.close
        return out

    def _first_copies(self, ordered: list[Bar], out: Screened) -> list[Bar]:
        kept: list[Bar] = []
        for bar in ordered:
            if kept and kept[-1].ts == bar.ts:
                if kept[-1] != bar:
                    self._report(out, bar, "bar_conflict", "duplicate with other values; the first is kept")
                continue
            kept.append(bar)
        return kept

    def observe(self, bar: Bar) -> Event | None:
        """Called for each bar the engine accepts, in order: flags a
        close-to-close move far outside the recent volatility, or a new
        price level (beyond tenfold, taken after a day of rejections)."""
        returns = self._returns.setdefault(bar.symbol, deque(maxlen=_VOLATILITY_WINDOW))
        previous = self._last_close.get(bar.symbol)
        self._last_close[bar.symbol] = bar.close
        if previous is None:
            return None
        if not within_tenfold(bar, previous):
            returns.clear()  # the old level's returns say nothing of the new one's
            self._spreads.pop(bar.symbol, None)
            return _level_changed(bar, previous)
        move = math.log(bar.close / previous)
        flagged = None
        spread = self._spread(bar.symbol)
        if spread is not None:
            mean, std = spread
            if abs(move - mean) > self.sigmas * std:
                flagged = Event(
                    bar.ts,
                    "extreme_move",
                    f"close moved {math.expm1(move):+.2%} ({abs(move - mean) / std:.1f} sigma)",
                    level="warning",
                    symbol=bar.symbol,
                    data=_bar_data(bar),
                )
        returns.append(move)
        self._spreads.pop(bar.symbol, None)
        return flagged

    def extreme(self, bar: Bar, previous_close: float | None) -> tuple[str, str] | None:
        """("close" or "wick", why) when the bar's close, high or low lies
        beyond the extreme-move threshold from `previous_close`, measured
        against the volatility of the bars accepted so far; else None."""
        spread = self._spread(bar.symbol)
        if spread is None or previous_close is None:
            return None
        mean, std = spread
        for part, price in (("close", bar.close), ("wick", bar.low), ("wick", bar.high)):
            move = math.log(price / previous_close)
            if abs(move - mean) > self.sigmas * std:
                name = "close" if part == "close" else ("low" if price == bar.low else "high")
                sigmas = abs(move - mean) / std
                return part, f"{name} {price:g} is {math.expm1(move):+.2%} from the previous close ({sigmas:.1f} sigma)"
        return None

    def last_close(self, symbol: str) -> float | None:
        """The close of the newest bar accepted for the symbol."""
        return self._last_close.get(symbol)

    def _spread(self, symbol: str) -> tuple[float, float] | None:
        """Mean and standard deviation of the recent returns (at least
        _MIN_SPREAD), once there are enough of them to judge by; None before."""
        if symbol not in self._spreads:
            self._spreads[symbol] = self._measure_spread(symbol)
        return self._spreads[symbol]

    def _measure_spread(self, symbol: str) -> tuple[float, float] | None:
        returns = self._returns.get(symbol)
        if returns is None:
            return None
        assert returns.maxlen is not None  # every window is made with a maxlen
        if len(returns) < returns.maxlen:
            return None
        n = len(returns)
        mean = sum(returns) / n
        # Two-pass, the deviations summed in C: math.dist is the root of the
        # summed squared deviations, with care for rounding (as the features'
        # rolling windows compute theirs).
        std = math.dist(returns, [mean] * n) / math.sqrt(n - 1)
        return mean, max(std, _MIN_SPREAD)

    def _report(self, out: Screened, bar: Bar, kind: str, reason: str) -> None:
        key = (bar.symbol, bar.ts, reason)
        if not self._reported.first(key):
            return
        out.events.append(Event(bar.ts, kind, reason, level="warning", symbol=bar.symbol, data=_bar_data(bar)))
