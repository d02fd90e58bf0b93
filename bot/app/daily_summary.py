"""The daily summary notification: once a bar of a new UTC day has been
stepped, one message on the day that ended (equity, its change on the day
and since the run's first step, whether trading is halted). Sent through
the notifier only; nothing is stored, so a replay's database is the same
with it or without it."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain import Event
from bot.risk.state import RiskState
from bot.store import Store

DAY_MS = 86_400_000


class DailySummary:
    def __init__(self, store: Store, timeframe_ms: int, send: Callable[[Event], None]) -> None:
        self.store = store
        self.timeframe_ms = timeframe_ms
        self.send = send
        self.day: int | None = None  # the UTC day (days since 1970) of the newest bar close
        self.first_equity: float | None = None
        self.day_open: float | None = None  # the equity when the day began
        self.last_equity: float | None = None

    def after_step(self, bar_ts: int) -> None:
        """Called after each step with the newest bar stepped."""
        point = self.store.latest_equity()
        if point is None:
            return
        day = (bar_ts + self.timeframe_ms) // DAY_MS
        if self.day is None:
            self.day, self.first_equity, self.day_open = day, point.equity, point.equity
        elif day != self.day:
            self.send(self._summary(day * DAY_MS))
            self.day, self.day_open = day, self.last_equity
        self.last_equity = point.equity

    def _summary(self, ts: int) -> Event:
        assert self.day is not None and self.first_equity and self.day_open and self.last_equity is not None
        from bot.timeframes import iso_utc

        equity = self.last_equity
        state = RiskState.from_json(self.store.get_meta("risk_state"))
        trading = f"HALTED ({state.halt_reason})" if state.halted else "trading active"
        text = (
            f"{iso_utc(self.day * DAY_MS)[:10]}: equity {equity:,.2f} ({equity / self.day_open - 1:+.2%} on the day, "
            f"{equity / self.first_equity - 1:+.2%} since this run started), {trading}"
        )
        return Event(ts, "daily_summary", text, "info")
