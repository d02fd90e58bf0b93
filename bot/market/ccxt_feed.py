"""Market data from any ccxt exchange: closed bars only, paged from `since`.

The candle still forming (open time + timeframe > now) is dropped: acting
on it would be acting on a price that is not final. Network trouble (the
NetworkError family: timeouts, exchange unavailable, DDoS protection, rate
limits, and ccxt's other OperationFailed errors) is retried with exponential
backoff and jitter, a bounded number of times; anything else (bad keys, unknown symbol, an exchange error) ends the
request at once with a MarketDataError naming the cause. Either way the bar
job survives and its next firing asks again from the last stored bar.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

import ccxt
import structlog

from bot.config import ConfigError, ExchangeConfig, MarketConfig
from bot.domain import Bar
from bot.error_text import said
from bot.market.errors import MarketDataError
from bot.market.exchange_clock import ExchangeClock
from bot.market.reply_shape import unreadable_reply
from bot.market.retry_after import QuietPeriod
from bot.timeframes import grid_floor

log = structlog.get_logger("bot.market.ccxt")

# Worth asking again: the request may well succeed in a moment. ccxt's
# OperationFailed covers the NetworkError family (timeouts, exchange not
# available, DDoS protection, rate limits), garbled replies and errors the
# exchange itself calls transient (binance -1001 "internal error").
TRANSIENT_ERRORS = (ccxt.OperationFailed,)


def make_exchange(cfg: ExchangeConfig) -> ccxt.Exchange:
    exchange_class = getattr(ccxt, cfg.name, None)
    if not isinstance(exchange_class, type) or not issubclass(exchange_class, ccxt.Exchange):
        raise ConfigError(f"exchange.name: '{cfg.name}' is not a ccxt exchange id")
    exchange = exchange_class({"enableRateLimit": True, "timeout": cfg.timeout_ms})
    exchange.options.update(cfg.options)
    if cfg.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise ConfigError(f"exchange.sandbox: ccxt has no sandbox for {cfg.name}") from None
    if cfg.urls is not None:
        # Replace the whole mapping: with only some keys replaced, ccxt would
        # still send the others to the real hosts.
        exchange.urls["api"] = dict(cfg.urls)
    return exchange


class Backoff:
    """Exponential waits with jitter: base, 2x base, 4x base ..., capped;
    the jitter keeps many clients from retrying in lockstep."""

    def __init__(
        self,
        base_seconds: float,
        max_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base_seconds
        self.max = max_seconds
        self.sleep = sleep
        self.rng = rng or random.Random()

    def wait(self, attempt: int, at_least: float = 0.0) -> float:
        """`at_least`: what the exchange asked for (Retry-After)."""
        delay = min(self.max, self.base * 2**attempt)
        delay = delay * (0.5 + self.rng.random() / 2)  # "equal jitter": between half and all of it
        delay = max(delay, at_least)
        self.sleep(delay)
        return delay


class CcxtFeed:
    def __init__(
        self,
        exchange: ccxt.Exchange,
        timeframe: str,
        timeframe_ms: int,
        history_bars: int,
        market: MarketConfig,
        backoff: Backoff | None = None,
    ) -> None:
        # ccxt lists each exchange's candle intervals: one it lacks would
        # fail every fetch of a daemon that runs on as if the data were late.
        offered = getattr(exchange, "timeframes", None) or {}
        if offered and timeframe not in offered:
            raise ConfigError(
                f"timeframe: '{timeframe}' is not offered by {exchange.id} (it offers {', '.join(offered)})"
            )
        self.exchange = exchange
        self.quiet = QuietPeriod()
        self.clock = ExchangeClock(exchange, self.quiet)
        self.timeframe = timeframe
        self.timeframe_ms = timeframe_ms
        self.history_bars = history_bars
        self.page_limit = market.page_limit
        self.retries = market.retries
        self.backoff = backoff or Backoff(market.backoff_seconds, market.backoff_max_seconds)
        # ccxt parses a reply that is no JSON (a body cut short, a maintenance
        # page served with 200) into no candles, without a word: a download
        # took it for the end of the exchange's history and stopped there. It
        # keeps the parsed reply only when asked to (see _check_reply).
        exchange.enableLastJsonResponse = True

    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        """Closed bars opened after since_ts (or the configured history on a
        first start), oldest first, as the exchange sent them."""
        if since_ts is None:
            start = grid_floor(now_ms, self.timeframe_ms) - self.history_bars * self.timeframe_ms
        else:
            start = since_ts + self.timeframe_ms
        return self.fetch_range(symbol, start, now_ms, now_ms)

    def fetch_range(
        self, symbol: str, start_ms: int, end_ms: int, now_ms: int, on_page: Callable[[list[Bar]], None] | None = None
    ) -> list[Bar]:
        """Closed bars with start_ms <= open < end_ms, paged. `on_page` sees
        each page as it arrives (downloads store and report progress there)."""
        bars: list[Bar] = []
        since = start_ms
        self._keep_quiet(symbol)  # the exchange's clock is asked first, and that is a request too
        now_ms = self.clock.closed_by(now_ms)
        while since < end_ms and since + self.timeframe_ms <= now_ms:
            rows = self._request(symbol, since)
            page = [self._bar(symbol, r) for r in rows if since <= r[0] < end_ms and r[0] + self.timeframe_ms <= now_ms]
            if on_page is not None:
                on_page(page)
            bars.extend(page)
            # Only an empty page ends the range: a page short of the limit
            # may just lack a candle the exchange dropped from this reply.
            newest = max((int(r[0]) for r in rows), default=None)
            if newest is None or newest < since:
                break
            since = newest + self.timeframe_ms
        return bars

    @staticmethod
    def _bar(symbol: str, row: list) -> Bar:
        ts, o, h, low, c, v = row[:6]
        as_float = [float("nan") if x is None else float(x) for x in (o, h, low, c, v)]
        return Bar(symbol, int(ts), *as_float)

    def _check_reply(self, symbol: str, rows: list) -> None:
        """A reply ccxt could not read is a failed request, asked again like
        a timeout: not JSON at all, or JSON that holds no candles where an
        empty answer would hold an empty list."""
        reply = self.exchange.last_json_response
        if reply is None:
            raise ccxt.NetworkError(f"{self.exchange.id} the reply was not JSON (cut short, or not an answer)")
        if rows:
            return
        market = self.exchange.market(symbol)
        problem = unreadable_reply(reply, lambda entries: self.exchange.parse_ohlcvs(entries, market, self.timeframe))
        if problem:
            raise ccxt.NetworkError(f"{self.exchange.id} {problem}")

    def _keep_quiet(self, symbol: str) -> None:
        if self.quiet.left():
            raise MarketDataError(f"{self.exchange.id} {symbol}: not asked: {self.quiet.says()}")

    def _request(self, symbol: str, since: int) -> list[list]:
        for attempt in range(self.retries + 1):
            self._keep_quiet(symbol)
            try:
                rows = self.exchange.fetch_ohlcv(symbol, self.timeframe, since=since, limit=self.page_limit)
                self._check_reply(symbol, rows)
                return rows
            except TRANSIENT_ERRORS as exc:
                asked = self.quiet.note(self.exchange, exc)
                if attempt == self.retries or (asked is not None and asked > self.backoff.max):
                    raise MarketDataError(
                        f"{self.exchange.id} {symbol}: gave up after {attempt + 1} attempts: {network_reason(exc)}"
                        + (f" (Retry-After {asked:.0f} s)" if asked is not None else "")
                    ) from None
                wait = self.backoff.wait(attempt, at_least=asked or 0.0)
                self.quiet.waited(asked)
                log.warning(
                    "fetch_retry",
                    symbol=symbol,
                    error=network_reason(exc),
                    attempt=attempt + 1,
                    wait_seconds=round(wait, 2),
                )
            except ccxt.BaseError as exc:  # auth, bad symbol, exchange error: asking again won't help
                raise MarketDataError(f"{self.exchange.id} {symbol}: {type(exc).__name__}: {reply_line(exc)}") from None
        return []


def reply_line(exc: BaseException) -> str:
    """What an exchange's error says, on one line of at most 300
    characters ("" when nothing): what a log line or an event shows.
    Masked before it is cut (bot/error_text.py)."""
    return said(exc)[:300]


_URL = re.compile(r"https?://\S+")
_OBJECT = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*")


def network_reason(exc: Exception) -> str:
    """Why a request failed, told apart: ccxt names only the request
    ("binance GET <url>"); the cause it chains (a read timeout, a refused
    connection, a failed name lookup) or the status it quotes (451 from a
    geo-block, 503) is what a person needs. URLs are left out: they are
    long and may carry query parameters."""
    root: BaseException = exc
    while (parent := root.__cause__ or root.__context__) is not None:
        root = parent
    own = [w for w in _URL.sub("", reply_line(exc)).split() if w not in ("GET", "POST", "DELETE", "PUT")]
    if len(own) > 1:  # more than "binance": ccxt quoted the status and the body
        detail = " ".join(own[1:])
    else:
        detail = " ".join(_OBJECT.sub("", _URL.sub("", reply_line(root))).split()) if root is not exc else ""
    return f"{type(exc).__name__}: {detail[:240]}" if detail else type(exc).__name__
