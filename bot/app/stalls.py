"""A symbol whose bars stop coming, said once: live, the exchange may
answer every request without a newer candle (an HTML maintenance page
served with 200, an empty object, timestamps in seconds that land in 1970),
and nothing fails, so no other event tells. `data_stalled` once a symbol
is `stall_bars` closed bars behind, `data_resumed` when it has caught up."""

from __future__ import annotations

from bot.domain import Event
from bot.timeframes import grid_floor, iso_utc


class StallWatch:
    def __init__(self, timeframe_ms: int, stall_bars: int) -> None:
        self.timeframe_ms = timeframe_ms
        self.stall_bars = stall_bars
        self.stalled: dict[str, int] = {}  # symbol: its newest stepped bar when the stall was said

    def events(self, now_ms: int, newest_stepped: dict[str, int]) -> list[Event]:
        """The stalls and recoveries of this firing."""
        if self.stall_bars <= 0:
            return []
        expected = grid_floor(now_ms, self.timeframe_ms) - self.timeframe_ms  # the newest closed bar's open time
        found = []
        for symbol, last in newest_stepped.items():
            behind = (expected - last) // self.timeframe_ms
            if behind >= self.stall_bars and symbol not in self.stalled:
                self.stalled[symbol] = last
                found.append(self._stalled(now_ms, symbol, last, behind))
            elif behind == 0 and symbol in self.stalled:
                since = self.stalled.pop(symbol)
                found.append(
                    Event(
                        now_ms,
                        "data_resumed",
                        f"{symbol} is stepping again: caught up from {iso_utc(since)} to {iso_utc(last)}",
                        symbol=symbol,
                    )
                )
        return found

    def _stalled(self, now_ms: int, symbol: str, last: int, behind: int) -> Event:
        return Event(
            now_ms,
            "data_stalled",
            f"no new {symbol} bar stepped for {behind} bars (the newest opened {iso_utc(last)}): the exchange "
            "answers without a newer candle, or the events before this one say what holds it back",
            level="warning",
            symbol=symbol,
            data={"newest_bar": iso_utc(last), "bars_behind": behind},
        )
