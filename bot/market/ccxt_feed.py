"""Market data from any ccxt exchange: closed bars only, paged from `since`.

The candle still forming (open time + timeframe > now) is dropped: acting
on it would be acting on a price that is not final. Network errors are
retried with exponential backoff; anything else ends this firing and the
next firing tries again from the last stored bar.
"""

from __future__ import annotations

import time

import ccxt
import structlog

from bot.config import ConfigError, ExchangeConfig
from bot.domain import Bar

log = structlog.get_logger("bot.market.ccxt")


def make_exchange(cfg: ExchangeConfig) -> ccxt.Exchange:
    exchange_class = getattr(ccxt, cfg.name, None)
    if not isinstance(exchange_class, type) or not issubclass(exchange_class, ccxt.Exchange):
        raise ConfigError(f"exchange.name: '{cfg.name}' is not a ccxt exchange id")
    exchange = exchange_class({"enableRateLimit": True})
    if cfg.sandbox:
        exchange.set_sandbox_mode(True)
    if cfg.urls is not None:
        # Replace the whole mapping: with only some keys replaced, ccxt would
        # still send the others to the real hosts.
        exchange.urls["api"] = dict(cfg.urls)
    return exchange


class CcxtFeed:
    def __init__(self, exchange: ccxt.Exchange, timeframe: str, timeframe_ms: int, history_bars: int,
                 page_limit: int = 1000, retries: int = 5, backoff_seconds: float = 1.0) -> None:
        self.exchange = exchange
        self.timeframe = timeframe
        self.timeframe_ms = timeframe_ms
        self.history_bars = history_bars
        self.page_limit = page_limit
        self.retries = retries
        self.backoff_seconds = backoff_seconds

    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        since = since_ts + self.timeframe_ms if since_ts is not None else now_ms - self.history_bars * self.timeframe_ms
        bars: list[Bar] = []
        while since + self.timeframe_ms <= now_ms:
            page = self._page(symbol, since)
            closed = [row for row in page if row[0] >= since and row[0] + self.timeframe_ms <= now_ms]
            bars.extend(Bar(symbol, int(r[0]), *(float(v) for v in r[1:6])) for r in closed)
            if len(page) < self.page_limit or not closed:
                break
            since = int(closed[-1][0]) + self.timeframe_ms
        return bars

    def _page(self, symbol: str, since: int) -> list[list]:
        for attempt in range(self.retries + 1):
            try:
                return self.exchange.fetch_ohlcv(symbol, self.timeframe, since=since, limit=self.page_limit)
            except ccxt.NetworkError as exc:
                if attempt == self.retries:
                    raise
                wait = self.backoff_seconds * 2 ** attempt
                log.warning("fetch_retry", symbol=symbol, error=type(exc).__name__, wait_seconds=wait)
                time.sleep(wait)
        return []
