"""Whose clock says a candle has closed. Ours decides which candles to ask
for, but a candle is final only once the exchange's own clock has passed
its close: with the exchange's clock 40 minutes behind, the candle our
clock calls closed is still forming there, and storing it would keep a
partial price for good (a stored bar is never fetched again).

So once per firing (per `now`) the exchange is asked its time, where ccxt
can ask it (`fetchTime`); a candle counts as closed by the earlier of the
two clocks. Without an answer, ours alone decides, as before."""

from __future__ import annotations

import ccxt
import structlog

from bot.market.retry_after import QuietPeriod

log = structlog.get_logger("bot.market.clock")

SKEW_WORTH_SAYING_MS = 5_000


class ExchangeClock:
    def __init__(self, exchange: ccxt.Exchange, quiet: QuietPeriod) -> None:
        self.exchange = exchange
        # The feed's: a rate-limit refusal of the time is a wait asked of the
        # candle request that comes straight after it too.
        self.quiet = quiet
        self.asks = bool(exchange.has.get("fetchTime"))
        self._asked_at: int | None = None
        self._closed_by = 0
        self._behind_said = False

    def closed_by(self, now_ms: int) -> int:
        """The time a candle must have closed by to be final: ours, or the
        exchange's when it is behind."""
        if not self.asks:
            return now_ms
        if now_ms != self._asked_at:
            self._asked_at, self._closed_by = now_ms, min(now_ms, self._exchange_time(now_ms))
        return self._closed_by

    def _exchange_time(self, now_ms: int) -> int:
        try:
            theirs = int(self.exchange.fetch_time())
        except ccxt.BaseError as exc:
            self.quiet.note(self.exchange, exc)
            return now_ms  # no answer: the candle request will say what is wrong (or keep the quiet asked for)
        except (TypeError, ValueError):
            return now_ms
        behind = now_ms - theirs
        if behind > SKEW_WORTH_SAYING_MS and not self._behind_said:
            log.warning(
                "exchange_clock_behind",
                seconds=round(behind / 1000, 1),
                note="candles count as closed by the exchange's clock",
            )
        self._behind_said = behind > SKEW_WORTH_SAYING_MS
        return theirs
