"""A replay over several symbols whose files end at different times: each
symbol whose data runs out while others go on is reported once, with the
position it keeps. That position is marked at its last close from then on,
neither traded nor closed, because no later price of it exists to trade on;
the event is what tells a reader of the run why it stays open."""

from __future__ import annotations

from bot.app.runtime import Runtime
from bot.domain import Event
from bot.timeframes import iso_utc


class EarlyEnds:
    def __init__(self, ends: dict[str, int], last_ts: int, rt: Runtime, *, since_ms: int) -> None:
        """`ends`: each symbol's last bar; `last_ts`: the last bar of all."""
        self.rt = rt
        after = rt.config.timeframe_ms + round(rt.config.schedule.bar_delay_seconds * 1000)
        # When the bar after its last one would have been stepped. Those due
        # before `since_ms` were reported by the run that passed them.
        self.due = sorted(
            (ts + after, symbol) for symbol, ts in ends.items() if ts != last_ts and ts + after > since_ms
        )

    def report(self, now_ms: int) -> None:
        while self.due and now_ms >= self.due[0][0]:
            _, symbol = self.due.pop(0)
            self.rt.bar_job.record(self._event(symbol, now_ms))

    def _event(self, symbol: str, now_ms: int) -> Event:
        last = self.rt.engine.last_ts.get(symbol)
        last_bar = iso_utc(last) if last is not None else None
        position = self.rt.engine.ledger.positions.get(symbol)  # read only: position() would make one
        held = position.qty if position is not None else 0.0
        holding = f"its position of {held:g} stays open, marked at its last close" if held else "it holds no position"
        return Event(
            now_ms,
            "data_ended",
            f"replay data ends at {last_bar or 'its first bar'} while other symbols go on; {holding}",
            level="warning",
            symbol=symbol,
            data={"last_bar": last_bar, "position": held},
        )
