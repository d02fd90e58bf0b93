"""The fake Binance spot server, driven by a real ccxt.binance (no mocks):
markets, klines semantics, the forming candle, generated markets and every
injectable fault, as ccxt 4.5.90 reports them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import ccxt
import pandas as pd
import pytest
from fake_exchange import KLINES, FakeExchange
from helpers import BUNDLED_BTC

HOUR, QUARTER = 3_600_000, 900_000
FRAME = pd.read_csv(BUNDLED_BTC)
OPENS = [int(t) for t in FRAME["timestamp"]]
NOW = OPENS[2000] + 30 * 60_000  # half-way through CSV row 2000: rows 0..1999 are closed
KNOWN_PATHS = {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", KLINES, "/api/v3/ticker/24hr"}


def csv_rows(first: int, last: int) -> list[list]:
    """CSV rows first..last-1 as ccxt returns them: [int ts, o, h, l, c, v]."""
    return [[int(r[0]), *r[1:]] for r in FRAME.iloc[first:last].values.tolist()]


def valid_ohlc(row) -> bool:
    _, o, h, low, c, v = row
    return h >= max(o, c) and low <= min(o, c) and v > 0


def get_json(url: str) -> tuple[int, dict, dict]:
    """(status, headers, body) of a plain GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def clock() -> dict:
    return {"now": NOW}


@pytest.fixture
def fake(clock):
    with FakeExchange(now=lambda: clock["now"]) as server:
        server.add_csv_market("BTC/USDT", FRAME, "1h")
        server.add_generated_market("ETH/USDT", "15m", seed=3)
        yield server


@pytest.fixture
def exchange(fake) -> ccxt.binance:
    exchange = fake.make_ccxt(timeout=2_000)
    exchange.load_markets()
    return exchange


def test_load_markets_and_fetch_ohlcv_only_talk_to_the_fake(fake) -> None:
    # A tiny timeout: any attempt at a public host would fail the test.
    exchange = fake.make_ccxt(timeout=500)
    seen: list[str] = []
    exchange.session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response.url))
    assert all(url.startswith(fake.base_url) for url in exchange.urls["api"].values())

    markets = exchange.load_markets()
    assert [path for _, path, _ in fake.requests] == ["/api/v3/exchangeInfo"]
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["id"] == "BTCUSDT" and btc["active"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["amount"]["max"] == 9000
    assert btc["limits"]["cost"]["min"] == 5

    exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[10], limit=5)
    assert [path for _, path, _ in fake.requests] == ["/api/v3/exchangeInfo", KLINES]
    assert fake.requests[-1][2] == {"interval": "1h", "limit": "5", "symbol": "BTCUSDT", "startTime": str(OPENS[10])}
    assert {path for _, path, _ in fake.requests} <= KNOWN_PATHS
    assert len(seen) == len(fake.requests) and all(url.startswith(fake.base_url + "/api/v3/") for url in seen)


def test_fetch_ohlcv_returns_the_csv_rows_exactly(fake, exchange) -> None:
    rows = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[1000], limit=1000)
    assert rows == csv_rows(1000, 2000)
    assert fake.candle("BTC/USDT", OPENS[1500]) == tuple(csv_rows(1500, 1501)[0])


def test_since_and_limit_follow_binance(fake, exchange) -> None:
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[5], limit=5) == csv_rows(5, 10)
    # `since` inside a bar: the first candle is the next one to open.
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[5] + 1, limit=2) == csv_rows(6, 8)
    # ccxt itself caps limit at 1000; the fake refuses more, as Binance does.
    assert len(exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=5000)) == 1000
    assert fake.requests[-1][2]["limit"] == "1000"
    for bad in (0, 1001):
        status, _, body = get_json(f"{fake.base_url}{KLINES}?symbol=BTCUSDT&interval=1h&limit={bad}")
        assert (status, body["code"]) == (400, -1130)
    # No since: the newest 500 (ccxt's default limit), ending with the forming candle.
    newest = exchange.fetch_ohlcv("BTC/USDT", "1h")
    assert [r[0] for r in newest] == OPENS[1501:2001]
    # endTime (ccxt's `until`) bounds the open time, inclusive.
    until = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[100], limit=50, params={"until": OPENS[103]})
    assert until == csv_rows(100, 104)
    # Rows that have not opened yet do not exist.
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[2001]) == []


def test_forming_candle_comes_last_with_partial_values(fake, exchange, clock) -> None:
    *closed, forming = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[1990], limit=1000)
    final = csv_rows(2000, 2001)[0]
    assert closed == csv_rows(1990, 2000)
    assert forming[0] == OPENS[2000] and forming != final and valid_ohlc(forming)
    assert forming[1] == final[1] and forming[5] < final[5]
    assert min(final[1], final[4]) <= forming[4] <= max(final[1], final[4])

    fake.serve_forming = False
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3) == csv_rows(1997, 2000)
    fake.serve_forming = True
    clock["now"] = OPENS[2001]  # row 2000 closes, row 2001 starts forming
    *closed, forming = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[1999], limit=10)
    assert closed == csv_rows(1999, 2001) and forming[0] == OPENS[2001] and forming != csv_rows(2001, 2002)[0]


def test_generated_market_is_deterministic(fake, exchange, clock) -> None:
    start = NOW - 300 * QUARTER
    whole = exchange.fetch_ohlcv("ETH/USDT", "15m", since=start, limit=1000)
    assert len(whole) == 301 and whole[-1][0] == NOW  # NOW is on the 15m grid: the last one just opened
    later_half = exchange.fetch_ohlcv("ETH/USDT", "15m", since=start + 150 * QUARTER, limit=100)
    first_part = exchange.fetch_ohlcv("ETH/USDT", "15m", since=start, limit=10)
    assert later_half == whole[150:250] and first_part == whole[:10]
    assert all(b[0] - a[0] == QUARTER for a, b in zip(whole, whole[1:]))
    closed = whole[:-1]
    assert all(valid_ohlc(r) and 100 <= r[3] and r[2] <= 200 for r in closed)
    assert [list(fake.candle("ETH/USDT", r[0])) for r in closed] == closed
    assert whole[-1] != list(fake.candle("ETH/USDT", NOW)) and valid_ohlc(whole[-1])

    other = FakeExchange()  # same symbol and seed elsewhere: same candles, for past and future times
    other.add_generated_market("ETH/USDT", "15m", seed=3)
    far_future, far_past = 4_102_444_800_000, 946_684_800_000  # 2100 and 2000
    for ts in (far_past, closed[7][0], far_future):
        assert other.candle("ETH/USDT", ts) == fake.candle("ETH/USDT", ts)
    other.add_generated_market("ETH/USDT", "15m", seed=4)
    assert other.candle("ETH/USDT", closed[7][0]) != fake.candle("ETH/USDT", closed[7][0])
    clock["now"] = far_future + HOUR
    assert exchange.fetch_ohlcv("ETH/USDT", "15m", since=far_future, limit=2)[0] == list(
        fake.candle("ETH/USDT", far_future))


# ccxt 4.5.90: binance.handle_errors raises DDoSProtection for BOTH 418 and
# 429 before the generic status table (where 429 -> RateLimitExceeded) is
# consulted, so 429 is DDoSProtection, not RateLimitExceeded (which is a
# sibling under NetworkError, not a subclass). 500/503 with an uncoded body
# fall through to the status table: ExchangeNotAvailable.
@pytest.mark.parametrize("status, error", [(429, ccxt.DDoSProtection), (418, ccxt.DDoSProtection),
                                           (500, ccxt.ExchangeNotAvailable), (503, ccxt.ExchangeNotAvailable)])
def test_http_faults_raise_network_errors_once(fake, exchange, status, error) -> None:
    fake.fail_next(KLINES, status=status)
    with pytest.raises(ccxt.NetworkError) as raised:
        exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3)
    assert type(raised.value) is error
    assert not isinstance(raised.value, ccxt.RateLimitExceeded)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == csv_rows(0, 3)


def test_binance_error_codes_on_5xx_are_not_network_errors(fake, exchange) -> None:
    # With a Binance error code in the body ccxt trusts the code over the
    # status: -1001 -> OperationFailed, an unmapped code (-1008 on the
    # generic table) -> ExchangeError. Neither is a NetworkError.
    fake.fail_next(KLINES, status=500, body={"code": -1001, "msg": "Internal error; unable to process your request."})
    fake.fail_next(KLINES, status=503, body={"code": -1008, "msg": "Server is currently overloaded."})
    for expected in (ccxt.OperationFailed, ccxt.ExchangeError):
        with pytest.raises(ccxt.BaseError) as raised:
            exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3)
        assert type(raised.value) is expected and not isinstance(raised.value, ccxt.NetworkError)


def test_raw_replies_look_like_binance(fake) -> None:
    base = fake.base_url
    fake.fail_next("/api/v3/ping", status=429, times=2)
    for _ in range(2):
        status, headers, body = get_json(f"{base}/api/v3/ping")
        assert (status, headers["Retry-After"], body["code"]) == (429, "1", -1003)
    assert get_json(f"{base}/api/v3/ping")[::2] == (200, {})
    assert get_json(f"{base}/api/v3/time")[2] == {"serverTime": NOW}
    status, _, body = get_json(f"{base}{KLINES}?symbol=XRPUSDT&interval=1h")
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
    for interval in ("7m", "1m"):  # not a Binance interval; not this market's timeframe
        status, _, body = get_json(f"{base}{KLINES}?symbol=BTCUSDT&interval={interval}")
        assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
    assert get_json(f"{base}/api/v3/nothing")[0] == 404
    status, _, rows = get_json(f"{base}{KLINES}?symbol=BTCUSDT&interval=1h&startTime={OPENS[0]}&limit=1")
    assert rows == [[OPENS[0], "37253.82000000", "37894.81000000", "37100.00000000", "37798.31000000",
                     "5234.07273500", OPENS[0] + HOUR - 1, rows[0][7], rows[0][8], rows[0][9], rows[0][10], "0"]]
    assert isinstance(rows[0][8], int) and all(isinstance(v, str) for v in rows[0][7:12:2])


def test_ticker_comes_from_the_newest_candle(fake, exchange) -> None:
    ticker = exchange.fetch_ticker("BTC/USDT")
    forming = exchange.fetch_ohlcv("BTC/USDT", "1h", limit=1)[0]
    assert fake.requests[-2][1] == "/api/v3/ticker/24hr"
    assert (ticker["last"], ticker["open"], ticker["baseVolume"]) == (forming[4], forming[1], forming[5])


def test_slow_reply_is_a_request_timeout(fake) -> None:
    exchange = fake.make_ccxt(timeout=150)
    exchange.load_markets()
    fake.slow_next(KLINES, seconds=1.0)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == csv_rows(0, 3)


def test_malformed_json_is_not_an_error_for_ccxt(fake) -> None:
    # ccxt 4.5.90 raises nothing: the JSON parse fails silently and, the
    # content type being JSON, the raw text is handed to the parser.
    # exchangeInfo -> load_markets() returns {} (later calls: BadSymbol).
    exchange = fake.make_ccxt()
    fake.malformed_next("/api/v3/exchangeInfo")
    assert exchange.load_markets() == {}
    with pytest.raises(ccxt.BadSymbol):
        exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3)
    exchange = fake.make_ccxt()
    exchange.load_markets()
    # klines with `since` -> [] (every parsed "row" is a single character,
    # filtered out by since), i.e. it looks like "no new candles".
    fake.malformed_next(KLINES)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == []
    # klines without `since` -> `limit` junk rows: a one-digit timestamp and None values.
    fake.malformed_next(KLINES)
    junk = exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3)
    assert len(junk) == 3 and all(r[0] < 10 and r[1:] == [None] * 5 for r in junk)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == csv_rows(0, 3)


def test_dropped_candles_are_missing_exactly_once(fake, exchange) -> None:
    fake.drop_candles("BTC/USDT", [OPENS[3], OPENS[5]])
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[10], limit=3) == csv_rows(10, 13)  # not consumed
    first = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=8)
    assert first == csv_rows(0, 3) + csv_rows(4, 5) + csv_rows(6, 8)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=8) == csv_rows(0, 8)

    fake.drop_candles("ETH/USDT", [NOW - QUARTER], times=None)
    for _ in range(3):
        rows = exchange.fetch_ohlcv("ETH/USDT", "15m", since=NOW - 3 * QUARTER, limit=10)
        assert [r[0] for r in rows] == [NOW - 3 * QUARTER, NOW - 2 * QUARTER, NOW]


def test_duplicated_candles_appear_twice(fake, exchange) -> None:
    fake.duplicate_candles("BTC/USDT", [OPENS[1]], times=2)
    rows = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=10)
    assert [r[0] for r in rows] == [OPENS[0], OPENS[1], *OPENS[1:9]] and rows[1] == rows[2]
    # ccxt neither drops the copy nor trusts the server's count: it cuts the
    # reply to `limit`, so the newest candle falls off the end of the page.
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == csv_rows(0, 2) + csv_rows(1, 2)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3) == csv_rows(0, 3)

    fake.duplicate_candles("BTC/USDT", [OPENS[1]], conflicting=True)
    rows = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[0], limit=3)
    original, conflict = rows[1], rows[2]
    assert original == csv_rows(1, 2)[0] and conflict[0] == original[0]
    assert conflict[4] == round(original[4] * 1.01, 2) and valid_ohlc(conflict)


def test_hidden_candles_arrive_late(fake, exchange) -> None:
    fake.hide_after("BTC/USDT", OPENS[1998])
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3) == csv_rows(1995, 1998)
    assert exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[1998], limit=3) == []
    fake.unhide("BTC/USDT")
    rows = exchange.fetch_ohlcv("BTC/USDT", "1h", since=OPENS[1998], limit=3)
    assert rows[:2] == csv_rows(1998, 2000) and rows[2][0] == OPENS[2000]


def test_faults_and_log_are_thread_safe(fake) -> None:
    fake.fail_next(KLINES, status=503, times=5)
    url = f"{fake.base_url}{KLINES}?symbol=ETHUSDT&interval=15m&limit=2"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: get_json(url)[0], range(40)))
    assert sorted(statuses) == [200] * 35 + [503] * 5
    assert len(fake.requests) == 40


def test_stop_closes_the_socket() -> None:
    with FakeExchange() as server:
        url = server.base_url
        assert get_json(f"{url}/api/v3/ping")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/api/v3/ping", timeout=2)
