"""Prices that must be confirmed before they can move money (live only).

A bar whose close, high or low lies beyond the extreme-move threshold is
not stepped (so neither traded on nor marked) until it is confirmed:

- the exchange serves the very same values again: the bar is asked for a
  second time at once, and a copy held back is compared at every later
  fetch (the late retry a few seconds on, the next firing); or
- its close was the extreme part and the next bar's close confirms the
  level: it lies nearer the held close than the close before it.

A second copy with other values replaces the first and is judged afresh
(an exchange that corrected a bad print). An unconfirmed bar waits, and
the symbol's later bars with it, as for a hole in the data. Every hold,
correction and confirmation is an event. The kill switch and the stops
therefore only ever see confirmed prices. Replay does not hold: its file is
the whole truth, and a second read would serve the same values again.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.domain import Bar, Event
from bot.market.reported_once import ReportedOnce
from bot.market.screening import BarScreen
from bot.timeframes import iso_utc

Refetch = Callable[[Bar], "Bar | None"]  # the bar asked for again; None when the exchange did not answer


class PriceGate:
    def __init__(self, screen: BarScreen) -> None:
        self.screen = screen
        self.held: dict[str, Bar] = {}  # per symbol: the bar version held back last
        self._reported = ReportedOnce(limit=1_000)

    def admit(self, symbol: str, bars: list[Bar], refetch: Refetch, events: list[Event]) -> list[Bar]:
        """The leading bars of `bars` (ascending) whose prices are confirmed,
        corrected copies in place of the first; an unconfirmed extreme bar
        and those after it wait."""
        admitted: list[Bar] = []
        previous = self.screen.last_close(symbol)
        for i, bar in enumerate(bars):
            confirmed = self._confirmed(symbol, bar, previous, bars[i + 1 :], refetch, events)
            if confirmed is None:
                break
            self.held.pop(symbol, None)
            admitted.append(confirmed)
            previous = confirmed.close
        return admitted

    def _confirmed(
        self, symbol: str, bar: Bar, previous: float | None, later: list[Bar], refetch: Refetch, events: list[Event]
    ) -> Bar | None:
        """The bar to step (this one, or the exchange's corrected copy), or
        None while its price is unconfirmed."""
        found = self.screen.extreme(bar, previous)
        if found is None:
            return bar
        part, why = found
        confirmation = self._confirmation(symbol, bar, part, previous, later)
        if confirmation is None:
            second = refetch(bar)
            if second == bar:
                confirmation = "served again with the same values"
            elif second is not None:
                events.append(
                    Event(
                        bar.ts,
                        "price_corrected",
                        f"{why}; asked again, the exchange served other values, which are used instead",
                        level="warning",
                        symbol=symbol,
                        data=_prices(second),
                    )
                )
                return self._confirmed(symbol, second, previous, later, lambda _: None, events)
        if confirmation is None:
            self._hold(symbol, bar, why, events)
            return None
        events.append(
            Event(
                bar.ts, "price_confirmed", f"{why}: {confirmation}", level="warning", symbol=symbol, data=_prices(bar)
            )
        )
        return bar

    def _confirmation(self, symbol: str, bar: Bar, part: str, previous: float | None, later: list[Bar]) -> str | None:
        if self.held.get(symbol) == bar:
            return "served again with the same values"
        if part == "close" and later and previous is not None:
            following = later[0].close
            if abs(math.log(following / bar.close)) < abs(math.log(following / previous)):
                return f"the next bar closed at {following:g}, nearer this level than the close before"
        return None

    def _hold(self, symbol: str, bar: Bar, why: str, events: list[Event]) -> None:
        self.held[symbol] = bar
        if not self._reported.first(bar):
            return
        events.append(
            Event(
                bar.ts,
                "price_held",
                f"{why}: held back, not traded on nor marked, until the "
                "exchange serves it again or the next bar confirms the level",
                level="warning",
                symbol=symbol,
                data=_prices(bar),
            )
        )


def _prices(bar: Bar) -> dict:
    return {"bar_time": iso_utc(bar.ts), "open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
