"""A fake Binance spot REST server on 127.0.0.1 for tests.

`FakeExchange` serves a small subset of the Binance spot API (ping, time,
exchangeInfo, klines, ticker/24hr) from candle sources registered per
symbol: rows of a CSV in the bundled format, or candles generated as a pure
function of their open time. Time comes from an injectable clock; like
Binance, klines include the candle still forming (with partial values) and
never a candle that has not opened yet. Faults (HTTP errors, slow replies,
malformed bodies, missing/duplicated/late candles) are queued by the test
and consumed by the next matching requests. `enable_trading` opens the
private endpoints for one signed account (see fake_account.py).

    with FakeExchange(now=lambda: NOW) as fake:
        fake.add_csv_market("BTC/USDT", BUNDLED_BTC, "1h")
        exchange = fake.make_ccxt()
        exchange.fetch_ohlcv("BTC/USDT", "1h", since=..., limit=1000)
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import ccxt
import numpy as np
import pandas as pd
from fake_account import PRIVATE_PATHS, FakeAccount

INTERVALS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000,
}
KLINES = "/api/v3/klines"
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
FAR_FUTURE = 2**62

# Filters every market starts with; a market's copy is the one place that
# says what orders it accepts (exchangeInfo renders it as a list).
DEFAULT_FILTERS = {
    "PRICE_FILTER": {"minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
    "LOT_SIZE": {"minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
    "NOTIONAL": {"minNotional": "5.00000000", "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
}

# Bodies shaped like Binance's. The 5xx ones carry no "code" on purpose:
# ccxt maps Binance codes such as -1001/-1008 to OperationFailed before it
# looks at the HTTP status, so a coded body would hide the status mapping
# (pass body= to fail_next to test that path).
FAULT_BODIES = {
    418: {"code": -1003, "msg": "Way too many requests; IP(127.0.0.1) banned until {until}. "
                                "Please use the websocket for live updates to avoid bans."},
    429: {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                                "minute. Please use the websocket for live updates to avoid bans."},
    500: {"msg": "Internal error; unable to process your request. Please try again."},
    503: {"msg": "Service Unavailable."},
}

Candle = tuple  # (open_ms, open, high, low, close, volume)


class ApiError(Exception):
    """A Binance-style error reply: HTTP status plus {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class Reply(NamedTuple):
    status: int
    body: bytes
    headers: dict


def json_reply(payload, status: int = 200, headers: dict | None = None) -> Reply:
    """A JSON reply with compact separators, as Binance sends."""
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


def fmt(value: float) -> str:
    """Binance-style decimal string (8 places) that parses back to exactly `value`."""
    text = f"{value:.8f}"
    return text if float(text) == value else np.format_float_positional(value, trim="-")


def partial(final: Candle, fraction: float) -> Candle:
    """The candle `fraction` of the way through its interval: a deterministic prefix of `final`."""
    ts, o, h, lo, c, v = final
    close = round(o + (c - o) * fraction, 2)
    high = max(o, close, round(o + (h - o) * fraction, 2))
    low = min(o, close, round(o + (lo - o) * fraction, 2))
    return ts, o, high, low, close, v * max(fraction, 0.02) / 2


def misprinted(candle: Candle, price: str, factor: float) -> Candle:
    """The candle with one price scaled, the others kept consistent with it."""
    ts, open_, high, low, close, volume = candle
    moved = {"close": close, "low": low, "high": high}[price] * factor
    if price == "close":
        close = moved
    elif price == "low":
        low = moved
    else:
        high = moved
    return ts, open_, max(high, open_, close, low), min(low, open_, close, high), close, volume


def interval_ms(timeframe: str) -> int:
    """Milliseconds in a Binance interval such as "1h" (ValueError for others)."""
    if timeframe not in INTERVALS:
        raise ValueError(f"unsupported timeframe {timeframe!r}; one of {', '.join(INTERVALS)}")
    return INTERVALS[timeframe]


class CsvSource:
    """Candles from a frame in the bundled CSV format (timestamp = open, ms)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        frame = frame.sort_values("timestamp", kind="stable")
        self.opens = [int(t) for t in frame["timestamp"]]
        values = frame[["open", "high", "low", "close", "volume"]].astype("float64").itertuples(index=False)
        self.rows = {ts: (ts, *map(float, row)) for ts, row in zip(self.opens, values)}

    def final(self, open_ms: int) -> Candle:
        """The CSV row opening at `open_ms` (KeyError if there is none)."""
        return self.rows[open_ms]

    def select(self, start: int | None, cap: int, limit: int) -> list[int]:
        """Open times in [start, cap]: the first `limit`, or the last `limit` without start."""
        hi = bisect.bisect_right(self.opens, cap)
        if start is None:
            return self.opens[max(0, hi - limit):hi]
        lo = bisect.bisect_left(self.opens, start)
        return self.opens[lo:min(hi, lo + limit)]


class GeneratedSource:
    """Candles that are a pure function of (symbol, seed, bar number): any open time works."""

    def __init__(self, key: str, tf_ms: int, seed: int) -> None:
        self.key, self.tf_ms, self.seed = key, tf_ms, seed
        self.phase = self._noise(0, "phase") * 2 * math.pi

    def _noise(self, n: int, tag: str) -> float:
        digest = hashlib.blake2b(f"{self.key}|{self.seed}|{n}|{tag}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def _price(self, n: int) -> float:
        wave = 30 * math.sin(n / 60) + 12 * math.sin(n / 11.3 + self.phase)
        return round(150 + wave + 6 * (self._noise(n, "p") - 0.5), 2)

    def final(self, open_ms: int) -> Candle:
        """The closed candle opening at `open_ms` (ValueError if not on the timeframe grid)."""
        n, rest = divmod(open_ms, self.tf_ms)
        if rest:
            raise ValueError(f"{open_ms} is not a multiple of the timeframe ({self.tf_ms} ms)")
        o, c = self._price(n), self._price(n + 1)
        high = round(max(o, c) + 1.5 * self._noise(n, "h"), 2)
        low = round(min(o, c) - 1.5 * self._noise(n, "l"), 2)
        return open_ms, o, high, low, c, round(1 + 99 * self._noise(n, "v"), 5)

    def select(self, start: int | None, cap: int, limit: int) -> list[int]:
        """Grid open times in [start, cap]: the first `limit`, or the last `limit` without start."""
        last = cap // self.tf_ms * self.tf_ms
        if start is None:
            return list(range(last - (limit - 1) * self.tf_ms, last + 1, self.tf_ms))
        first = -(-start // self.tf_ms) * self.tf_ms
        return list(range(first, min(last, first + (limit - 1) * self.tf_ms) + 1, self.tf_ms))


class Market:
    """One spot market: ids, timeframe, candle source, filters and late-candle cut-off."""

    def __init__(self, symbol: str, timeframe: str, source, filters: dict | None) -> None:
        self.symbol, self.timeframe, self.tf_ms, self.source = symbol, timeframe, interval_ms(timeframe), source
        self.base, self.quote = symbol.split("/")
        self.id = self.base + self.quote
        self.filters = copy.deepcopy(DEFAULT_FILTERS)
        for name, values in (filters or {}).items():
            self.filters.setdefault(name, {}).update(values)
        self.hidden_from: int | None = None

    def info(self) -> dict:
        """The exchangeInfo entry for this market."""
        return {
            "symbol": self.id, "status": "TRADING", "baseAsset": self.base, "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [{"filterType": name, **values} for name, values in self.filters.items()],
            "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


def kline_row(candle: Candle, tf_ms: int) -> list:
    """A candle as Binance's 12-field kline array."""
    ts, o, h, lo, c, v = candle
    return [ts, fmt(o), fmt(h), fmt(lo), fmt(c), fmt(v), ts + tf_ms - 1, fmt(round(v * c, 8)),
            int(v * 10) + 1, fmt(round(v / 2, 8)), fmt(round(v * c / 2, 8)), "0"]


def int_param(query: dict, name: str) -> int | None:
    """An optional integer query parameter; Binance's -1100 if it is not one."""
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                   "legal range is '^[0-9]{1,20}$'.") from None


def take(queue: list[dict], path: str) -> dict | None:
    """Consume one use of the first queued fault for `path` (None matches any path)."""
    for entry in queue:
        if entry["path"] in (None, path):
            entry["times"] -= 1
            if entry["times"] <= 0:
                queue.remove(entry)
            return entry
    return None


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the FakeExchange and writes back its Reply."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.fake.handle(self.command, self.path, headers, body)
        try:
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json;charset=UTF-8", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a timeout test)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        """Silence the default stderr access log."""


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen backlog large enough for bursts of clients."""

    request_queue_size = 128
    daemon_threads = True


class FakeExchange:
    """A Binance spot REST fake on 127.0.0.1 with an injectable clock and fault injection."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self._now = now or (lambda: time.time() * 1000)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._markets: dict[str, Market] = {}
        self._fails: list[dict] = []
        self._slows: list[dict] = []
        self._malformed: list[dict] = []
        self._data_faults: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.serve_forming = True
        self.account: FakeAccount | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeExchange:
        """Listen on a free 127.0.0.1 port and serve from a daemon thread."""
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-exchange", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any slow reply and close the listening socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeExchange:
        """Start serving; see start()."""
        return self.start()

    def __exit__(self, *exc) -> None:
        """Stop serving; see stop()."""
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the server listens, e.g. http://127.0.0.1:54321."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- ccxt --------------------------------------------------------------

    def ccxt_urls(self) -> dict:
        """A whole replacement for ccxt.binance's urls['api'] (spot public endpoints only)."""
        return {"public": f"{self.base_url}/api/v3", "private": f"{self.base_url}/api/v3",
                "v1": f"{self.base_url}/api/v1"}

    def ccxt_options(self) -> dict:
        """ccxt.binance options that keep load_markets on spot public endpoints."""
        return {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}

    def make_ccxt(self, timeout: int = 10_000) -> ccxt.binance:
        """A real ccxt.binance talking only to this fake; timeout in ms. With
        trading enabled it carries the account's keys."""
        keys = {"apiKey": self.account.api_key, "secret": self.account.secret} if self.account else {}
        exchange = ccxt.binance({"enableRateLimit": False, "timeout": timeout, "options": self.ccxt_options(),
                                 **keys})
        exchange.urls["api"] = self.ccxt_urls()
        return exchange

    def enable_trading(self, api_key: str, secret: str, balances: dict[str, float],
                       commission: float = 0.001) -> FakeAccount:
        """Open the private endpoints for one account (see fake_account.py)."""
        self.account = FakeAccount(self, api_key, secret, balances, commission)
        return self.account

    # -- markets and candles -------------------------------------------------

    def add_csv_market(self, symbol: str, data: str | Path | pd.DataFrame, timeframe: str,
                       filters: dict | None = None) -> None:
        """Serve `symbol` from a bundled-format CSV (path or already-read DataFrame)."""
        frame = data if isinstance(data, pd.DataFrame) else pd.read_csv(data)
        self._add(Market(symbol, timeframe, CsvSource(frame), filters))

    def add_generated_market(self, symbol: str, timeframe: str, seed: int = 0,
                             filters: dict | None = None) -> None:
        """Serve `symbol` from deterministic candles (prices ~100-200) defined for any open time."""
        self._add(Market(symbol, timeframe, GeneratedSource(symbol, interval_ms(timeframe), seed), filters))

    def _add(self, market: Market) -> None:
        with self._lock:
            self._markets[market.id] = market

    def market(self, symbol: str) -> Market:
        """The Market for a unified symbol ("BTC/USDT") or an exchange id ("BTCUSDT")."""
        return self._markets[symbol.replace("/", "")]

    def now(self) -> int:
        """The fake's current time in ms."""
        return int(self._now())

    def candle(self, symbol: str, open_ms: int) -> Candle:
        """(ts, o, h, l, c, v) of the closed candle opening at `open_ms`, as served."""
        return self.market(symbol).source.final(open_ms)

    def _served(self, market: Market, open_ms: int, now: int) -> Candle:
        final = market.source.final(open_ms)
        if open_ms + market.tf_ms <= now:
            return final
        return partial(final, (now - open_ms) / market.tf_ms)

    # -- fault injection -------------------------------------------------------

    def fail_next(self, path: str | None = KLINES, status: int = 429, times: int = 1,
                  body: dict | list | None = None, retry_after: int = 1) -> None:
        """Answer the next `times` requests to `path` with an HTTP error (418, 429, 500 or 503), or with
        `body` and any status (200 with a body that is not candles)."""
        if body is None and status not in FAULT_BODIES:
            raise ValueError(f"no default body for status {status}; pass body=")
        with self._lock:
            self._fails.append({"path": path, "times": times, "status": status, "body": body,
                                "retry_after": retry_after})

    def slow_next(self, path: str | None, seconds: float, times: int = 1) -> None:
        """Sleep `seconds` before answering the next `times` requests to `path`."""
        with self._lock:
            self._slows.append({"path": path, "times": times, "seconds": seconds})

    def malformed_next(self, path: str | None, times: int = 1) -> None:
        """Answer the next `times` requests to `path` with 200 and the body cut in half."""
        with self._lock:
            self._malformed.append({"path": path, "times": times})

    def drop_candles(self, symbol: str, open_times, times: int | None = 1) -> None:
        """Leave these candles out of the next `times` klines replies that include them (None: always)."""
        self._data_fault("drop", symbol, open_times, times)

    def duplicate_candles(self, symbol: str, open_times, times: int | None = 1,
                          conflicting: bool = False) -> None:
        """Send these candles twice in the next `times` klines replies; the copy's close *1.01 if conflicting."""
        self._data_fault("conflict" if conflicting else "duplicate", symbol, open_times, times)

    def misprint_candles(self, symbol: str, open_times, price: str, factors, times: int | None = 1) -> None:
        """Serve these candles with `price` ("close", "low" or "high") times a
        factor (the others stretched to stay consistent) in the next `times`
        klines replies that include them (None: always); `factors` is one
        number, or one per reply (its last repeats)."""
        factors = list(factors) if isinstance(factors, (list, tuple)) else [factors]
        self._data_fault("misprint", symbol, open_times, times, price=price, factors=factors, served=0)

    def _data_fault(self, kind: str, symbol: str, open_times, times: int | None, **extra) -> None:
        rule = {"kind": kind, "id": self.market(symbol).id, "opens": {int(t) for t in open_times},
                "times": times, **extra}
        with self._lock:
            self._data_faults.append(rule)

    def clear_faults(self) -> None:
        """Forget every queued fault, the account's included."""
        with self._lock:
            for queue in (self._fails, self._slows, self._malformed, self._data_faults):
                queue.clear()
        if self.account is not None:
            self.account.clear_faults()

    def pending_faults(self) -> int:
        """Queued faults not yet (fully) served: 0 once every injection hit."""
        with self._lock:
            return len(self._fails) + len(self._slows) + len(self._malformed) + len(
                [rule for rule in self._data_faults if rule["times"] is not None])

    def hide_after(self, symbol: str, open_ms: int) -> None:
        """Withhold candles opening at or after `open_ms` (late data) until unhide()."""
        with self._lock:
            self.market(symbol).hidden_from = int(open_ms)

    def unhide(self, symbol: str) -> None:
        """Serve the candles hide_after() withheld."""
        with self._lock:
            self.market(symbol).hidden_from = None

    # -- request handling --------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict | None = None, body: str = "") -> Reply:
        """Log the request, apply queued faults, then route it."""
        url = urlsplit(target)
        path, query = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        with self._lock:
            self.requests.append((method, path, query))
            slow, fail, malformed = take(self._slows, path), take(self._fails, path), take(self._malformed, path)
        if slow:
            self._stopping.wait(slow["seconds"])
        if fail:
            return self._fault_reply(fail)
        if path in PRIVATE_PATHS:
            return self._private(method, path, url.query, headers or {}, body)
        reply = self._route(method, path, query)
        if malformed:
            reply = Reply(200, reply.body[:len(reply.body) // 2], reply.headers)
        return reply

    def _private(self, method: str, path: str, raw_query: str, headers: dict, body: str) -> Reply:
        if self.account is None:
            return json_reply({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, 401)
        status, payload, delay = self.account.handle(method, path, raw_query, headers, body)
        if delay:
            self._stopping.wait(delay)  # the order is in; its acknowledgement is late
        return json_reply(payload, status)

    def _fault_reply(self, fault: dict) -> Reply:
        body = copy.deepcopy(FAULT_BODIES[fault["status"]] if fault["body"] is None else fault["body"])
        if isinstance(body, dict) and "msg" in body:
            body["msg"] = body["msg"].replace("{until}", str(self.now() + 1000 * fault["retry_after"]))
        headers = {"Retry-After": str(fault["retry_after"])} if fault["status"] in (418, 429) else {}
        return json_reply(body, fault["status"], headers)

    def _route(self, method: str, path: str, query: dict) -> Reply:
        routes = {"/api/v3/ping": self._ping, "/api/v3/time": self._time,
                  "/api/v3/exchangeInfo": self._exchange_info, KLINES: self._klines,
                  "/api/v3/ticker/24hr": self._ticker}
        if method != "GET" or path not in routes:
            return json_reply({"code": -1000, "msg": f"Not found: {method} {path}"}, 404)
        try:
            return json_reply(routes[path](query))
        except ApiError as error:
            return json_reply({"code": error.code, "msg": error.msg}, error.status)

    def _ping(self, query: dict) -> dict:
        return {}

    def _time(self, query: dict) -> dict:
        return {"serverTime": self.now()}

    def _exchange_info(self, query: dict) -> dict:
        with self._lock:
            symbols = [market.info() for market in self._markets.values()]
        return {"timezone": "UTC", "serverTime": self.now(), "rateLimits": [], "exchangeFilters": [],
                "symbols": symbols}

    def _market_param(self, query: dict) -> Market:
        if not query.get("symbol"):
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        market = self._markets.get(query["symbol"])
        if market is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return market

    def _klines(self, query: dict) -> list:
        market = self._market_param(query)
        # Only the market's own timeframe is served; other intervals get Binance's "invalid" answer.
        if query.get("interval") != market.timeframe:
            raise ApiError(400, -1120, "Invalid interval.")
        limit = int_param(query, "limit")
        limit = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start, end = int_param(query, "startTime"), int_param(query, "endTime")
        now = self.now()
        opens = market.source.select(start, self._cap(market, now, end), limit)
        return [kline_row(self._served_copy(market, tagged, now), market.tf_ms)
                for tagged in self._with_faults(market, opens)]

    def _cap(self, market: Market, now: int, end: int | None) -> int:
        """The latest open time a klines reply may contain."""
        cap = now if self.serve_forming else now - market.tf_ms
        hidden = market.hidden_from
        return min(cap, FAR_FUTURE if end is None else end, FAR_FUTURE if hidden is None else hidden - 1)

    def _with_faults(self, market: Market, opens: list[int]) -> list[tuple[int, str]]:
        """Open times after drop/duplicate faults, each tagged "final" or "conflict" for its copy."""
        with self._lock:
            hits = [rule for rule in self._data_faults if rule["id"] == market.id and rule["opens"] & set(opens)]
            misprint = {}
            for rule in (r for r in hits if r["kind"] == "misprint"):
                factor = rule["factors"][min(rule["served"], len(rule["factors"]) - 1)]
                rule["served"] += 1
                misprint.update({ts: (rule["price"], factor) for ts in rule["opens"]})
            for rule in hits:
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._data_faults.remove(rule)
        out = []
        for ts in opens:
            kinds = {rule["kind"] for rule in hits if ts in rule["opens"]}
            if "drop" not in kinds:
                out.append((ts, misprint.get(ts, "final")))
                out.extend((ts, kind) for kind in kinds - {"misprint"})
        return out

    def _served_copy(self, market: Market, tagged: tuple[int, str | tuple], now: int) -> Candle:
        ts, kind = tagged
        candle = self._served(market, ts, now)
        if isinstance(kind, tuple):
            return misprinted(candle, *kind)
        if kind != "conflict":
            return candle
        close = round(candle[4] * 1.01, 2)
        return (*candle[:2], max(candle[2], close), candle[3], close, candle[5])

    def _ticker(self, query: dict) -> dict | list:
        if "symbol" not in query:
            with self._lock:
                ids = list(self._markets)
            return [self._ticker({"symbol": market_id}) for market_id in ids]
        market = self._market_param(query)
        now = self.now()
        opens = market.source.select(None, self._cap(market, now, None), 1)
        ts, o, h, lo, c, v = self._served(market, opens[0], now) if opens else (now, 0.0, 0.0, 0.0, 0.0, 0.0)
        return {"symbol": market.id, "priceChange": fmt(round(c - o, 8)),
                "priceChangePercent": fmt(round(100 * (c - o) / o, 3) if o else 0.0),
                "weightedAvgPrice": fmt(round((o + h + lo + c) / 4, 8)), "prevClosePrice": fmt(o),
                "lastPrice": fmt(c), "lastQty": "0.00100000", "bidPrice": fmt(round(c - 0.01, 2)),
                "bidQty": "1.00000000", "askPrice": fmt(round(c + 0.01, 2)), "askQty": "1.00000000",
                "openPrice": fmt(o), "highPrice": fmt(h), "lowPrice": fmt(lo), "volume": fmt(v),
                "quoteVolume": fmt(round(v * c, 8)), "openTime": ts, "closeTime": now,
                "firstId": 1, "lastId": int(v * 10) + 1, "count": int(v * 10) + 1}
