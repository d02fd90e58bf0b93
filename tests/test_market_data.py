"""The live market-data path against the fake exchange: a real ccxt.binance
speaks HTTP to 127.0.0.1, the bar job runs on a simulated clock that the
fake exchange shares, and the stored bars are compared with the source."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from fake_exchange import KLINES, FakeExchange, Reply
from helpers import BUNDLED_BTC, rows, write_config

from bot.app.runtime import build_runtime
from bot.app.scheduling import SimulatedScheduler, bar_close_trigger
from bot.clock import SimulatedClock
from bot.config import load_config
from bot.domain import Signal
from bot.logging_setup import configure_logging
from bot.market.ccxt_feed import Backoff, CcxtFeed, make_exchange
from bot.strategy import Strategy
from bot.timeframes import parse_iso_ms

HOUR = 3_600_000
SOURCE = pd.read_csv(BUNDLED_BTC).set_index("timestamp")
START = parse_iso_ms("2023-03-01T00:00:30")  # a gap-free stretch of the bundled data
HISTORY = 300  # bars fetched on the first start


def source_rows(first_ts: int, last_ts: int) -> list[tuple]:
    part = SOURCE.loc[first_ts:last_ts]
    return [(int(ts), *map(float, row)) for ts, row in zip(part.index, part.itertuples(index=False))]


def stored_rows(db: Path) -> list[tuple]:
    return rows(db, "SELECT ts, open, high, low, close, volume FROM bars ORDER BY ts")


class Daemon:
    """The live bar job on a simulated clock, with the fake on the same clock."""

    def __init__(self, tmp_path: Path, fake: FakeExchange, clock: SimulatedClock, overrides: dict | None = None,
                 strategy: Strategy | None = None):
        config = write_config(tmp_path, {
            "mode": "live",
            "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(),
                         "timeout_ms": 1_000},
            # A cap above the fake's Retry-After (1 s) on its 429s and 418s: waits are recorded, not slept.
            "market": {"page_limit": 100, "retries": 4, "backoff_seconds": 0.01, "backoff_max_seconds": 5.0},
            "schedule": {"bar_delay_seconds": 5, "late_retry_seconds": 20, "late_retries": 2},
            **(overrides or {}),
        })
        cfg = load_config(config)
        configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
        self.sleeps: list[float] = []
        backoff = Backoff(cfg.market.backoff_seconds, cfg.market.backoff_max_seconds, sleep=self.sleeps.append)
        feed = CcxtFeed(make_exchange(cfg.exchange), cfg.timeframe, cfg.timeframe_ms, HISTORY, cfg.market, backoff)
        self.rt = build_runtime(cfg, clock=clock, feed=feed, strategy=strategy)
        self.clock = clock
        self.scheduler = SimulatedScheduler(clock)
        self.scheduler.add_job(self.rt.bar_job, bar_close_trigger(cfg.timeframe_ms, 5))
        self.rt.bar_job.schedule_retry = lambda when: self.scheduler.add_once(self.rt.bar_job, when)
        self.db = tmp_path / "bot.sqlite"

    def run_until(self, until_ms: int) -> None:
        self.scheduler.run(until_ms)

    def events(self, kind: str) -> list[tuple]:
        return rows(self.db, f"SELECT ts, symbol, message FROM events WHERE kind = '{kind}' ORDER BY id")

    def close(self) -> None:
        self.rt.store.close()


@contextmanager
def live_against_fake(tmp_path: Path, overrides: dict | None = None):
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", SOURCE.reset_index(), "1h")
        daemon = Daemon(tmp_path, fake, clock, overrides)
        try:
            yield fake, daemon
        finally:
            daemon.close()


def first_history_ts() -> int:
    return (START // HOUR - HISTORY) * HOUR


def test_first_start_loads_history_over_pages_without_the_forming_candle(tmp_path: Path) -> None:
    with live_against_fake(tmp_path) as (fake, daemon):
        daemon.rt.bar_job(START)
        newest_closed = (START // HOUR - 1) * HOUR
        assert stored_rows(daemon.db) == source_rows(first_history_ts(), newest_closed)
        klines = [q for _, path, q in fake.requests if path.endswith("/klines")]
        assert len(klines) >= 3  # 300 bars in pages of 100
        assert all(int(q["limit"]) == 100 for q in klines)


def test_forming_candle_is_never_stored_whenever_the_job_runs(tmp_path: Path) -> None:
    with live_against_fake(tmp_path) as (fake, daemon):
        for minutes in (0, 1, 29, 59, 61, 119):  # at, inside and across bar boundaries
            now = START + minutes * 60_000
            daemon.clock.advance_to(now)
            daemon.rt.bar_job(now)
            newest = rows(daemon.db, "SELECT MAX(ts) FROM bars")[0][0]
            assert newest + HOUR <= now
        assert stored_rows(daemon.db) == source_rows(first_history_ts(), newest)


def test_a_gap_of_several_hundred_bars_is_backfilled_exactly(tmp_path: Path) -> None:
    with live_against_fake(tmp_path) as (fake, daemon):
        daemon.rt.bar_job(START)
        down_until = START + 450 * HOUR  # the daemon was off for 450 bars
        daemon.clock.advance_to(down_until)
        daemon.rt.bar_job(down_until)
        newest_closed = (down_until // HOUR - 1) * HOUR
        assert stored_rows(daemon.db) == source_rows(first_history_ts(), newest_closed)
        assert rows(daemon.db, "SELECT COUNT(*) FROM bars")[0][0] == HISTORY + 450


class EveryOtherHour(Strategy):
    """Long on even hours, flat on odd ones: an order on almost every bar."""

    def decide(self, ctx) -> Signal:
        return Signal(1.0 if (ctx.bar.ts // HOUR) % 2 == 0 else 0.0, "rhythm")


def test_a_catch_up_rebuilds_from_old_bars_but_trades_only_on_fresh_ones(tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", SOURCE.reset_index(), "1h")
        daemon = Daemon(tmp_path, fake, clock, strategy=EveryOtherHour(EveryOtherHour.Params()))
        try:
            daemon.rt.bar_job(START)  # 300 bars of history, stepped at once
            assert rows(daemon.db, "SELECT COUNT(*) FROM bars")[0][0] == HISTORY
            decided = [ts for (ts,) in rows(daemon.db, "SELECT created_ts FROM orders WHERE reason = 'entry' "
                                                       "OR reason = 'exit'")]
            # Only bars that closed within two hours (plus the delay) were traded on.
            assert 1 <= len(decided) <= 2, decided
            blocks = rows(daemon.db, "SELECT message FROM events WHERE kind = 'order_blocked'")
            assert blocks and all(m.startswith("stale data") for (m,) in blocks)
        finally:
            daemon.close()


FAULTS = {
    "429": lambda fake, ts: fake.fail_next(status=429, times=2),
    "418": lambda fake, ts: fake.fail_next(status=418, times=1),
    "500": lambda fake, ts: fake.fail_next(status=500, times=3),
    "503": lambda fake, ts: fake.fail_next(status=503, times=2),
    "coded_500": lambda fake, ts: fake.fail_next(status=500, body={"code": -1001, "msg": "Internal error."}),
    "slow": lambda fake, ts: fake.slow_next("/api/v3/klines", seconds=2.0),
    "malformed": lambda fake, ts: fake.malformed_next("/api/v3/klines"),
    "missing_newest": lambda fake, ts: fake.drop_candles("BTC/USDT", [ts], times=2),
    "duplicate": lambda fake, ts: fake.duplicate_candles("BTC/USDT", [ts - 2 * HOUR, ts]),
    "conflicting_duplicate": lambda fake, ts: fake.duplicate_candles("BTC/USDT", [ts], conflicting=True),
    "late": lambda fake, ts: fake.hide_after("BTC/USDT", ts),
    "exchange_down_for_a_while": lambda fake, ts: fake.fail_next(status=503, times=40),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_survived_with_no_duplicate_and_no_lost_bar(tmp_path: Path, fault: str) -> None:
    with live_against_fake(tmp_path) as (fake, daemon):
        daemon.rt.bar_job(START)
        daemon.run_until(START + 6 * HOUR)
        # The fault hits the firing after the bar opening at `hit` closes.
        hit = (START // HOUR + 6) * HOUR
        FAULTS[fault](fake, hit)
        if fault == "late":
            daemon.run_until(hit + HOUR + 30_000)  # the firing and the first late retry find nothing
            fake.unhide("BTC/USDT")
        daemon.run_until(START + 30 * HOUR)
        assert fake.pending_faults() == 0  # every injected fault was really served
        newest_closed = (daemon.clock.now_ms() // HOUR - 1) * HOUR
        assert stored_rows(daemon.db) == source_rows(first_history_ts(), newest_closed)
        if fault == "conflicting_duplicate":
            assert len(daemon.events("bar_conflict")) == 1
        if fault == "exchange_down_for_a_while":
            assert daemon.events("fetch_failed")  # reported, then healed by later firings


@pytest.mark.parametrize("misses", [1, 2])
def test_a_candle_missing_inside_a_reply_is_asked_for_again(tmp_path: Path, misses: int) -> None:
    """After downtime five bars arrive at once, one of them missing: the hole
    is requested again at once; while it stays empty the bars after it wait."""
    with live_against_fake(tmp_path) as (fake, daemon):
        daemon.rt.bar_job(START)
        hole = (START // HOUR + 2) * HOUR
        fake.drop_candles("BTC/USDT", [hole], times=misses)
        later = START + 5 * HOUR
        daemon.clock.advance_to(later)
        daemon.rt.bar_job(later)
        refills = [q for _, path, q in fake.requests if path.endswith("/klines") and int(q["startTime"]) == hole]
        assert len(refills) == 1
        if misses == 2:  # the refill missed it too: nothing after the hole was stepped
            assert rows(daemon.db, "SELECT MAX(ts) FROM bars")[0][0] == hole - HOUR
            assert len(daemon.events("gap_pending")) == 1
            daemon.clock.advance_to(later + HOUR)
            daemon.rt.bar_job(later + HOUR)
        assert fake.pending_faults() == 0
        newest_closed = (daemon.clock.now_ms() // HOUR - 1) * HOUR
        assert stored_rows(daemon.db) == source_rows(first_history_ts(), newest_closed)


def test_backoff_grows_exponentially_within_its_cap(tmp_path: Path) -> None:
    with live_against_fake(tmp_path, {"market": {"page_limit": 100, "retries": 4, "backoff_seconds": 0.01,
                                                 "backoff_max_seconds": 0.05}}) as (fake, daemon):
        fake.fail_next(status=429, times=4, retry_after=0)  # the backoff's own waits: no wait asked for
        daemon.rt.bar_job(START)
        waits = daemon.sleeps
        assert len(waits) == 4
        caps = [0.01, 0.02, 0.04, 0.05]
        assert all(cap / 2 <= w <= cap for w, cap in zip(waits, caps))  # equal jitter: half to all
        assert rows(daemon.db, "SELECT COUNT(*) FROM bars")[0][0] == HISTORY


@pytest.mark.parametrize("status", [429, 418])
def test_a_wait_the_exchange_asks_for_is_kept(tmp_path: Path, status: int) -> None:
    """Retry-After was ignored: retries came after the backoff's 1, 2, 4 s
    however long the exchange had asked for, even after a 418 ban."""
    with live_against_fake(tmp_path) as (fake, daemon):  # the backoff capped at 5 s
        fake.fail_next(status=status, times=2, retry_after=3)
        daemon.rt.bar_job(START)
        assert len(daemon.sleeps) == 2 and min(daemon.sleeps) >= 3  # within the cap: waited out, then asked again
        assert rows(daemon.db, "SELECT COUNT(*) FROM bars")[0][0] == HISTORY

    (tmp_path / "long").mkdir()
    with live_against_fake(tmp_path / "long") as (fake, daemon):
        fake.fail_next(status=status, times=1, retry_after=600)
        daemon.rt.bar_job(START)
        daemon.rt.bar_job(START + 1_000)  # a retry soon after: no request inside the quiet
        assert sum(path == "/api/v3/klines" for _, path, _ in fake.requests) == 1 and daemon.sleeps == []
        failed = [m for _, _, m in daemon.events("fetch_failed")]
        assert "(Retry-After 600 s)" in failed[0] and "not asked: the exchange asked for quiet" in failed[1]


def test_a_wait_asked_when_the_exchange_is_asked_its_time_keeps_the_candles_quiet(tmp_path: Path) -> None:
    """The clock's question came first, and its 429 was swallowed: the
    candle request went out at once, inside the wait asked for."""
    with live_against_fake(tmp_path) as (fake, daemon):
        fake.fail_next("/api/v3/time", status=429, retry_after=600)
        daemon.rt.bar_job(START)
        assert [path for _, path, _ in fake.requests if path.startswith("/api/v3/")] == ["/api/v3/time"]
        (failed,) = [m for _, _, m in daemon.events("fetch_failed")]
        assert "not asked: the exchange asked for quiet (Retry-After), 600 s left" in failed


def test_bad_credentials_stop_the_job_with_a_clear_message_and_no_retry(tmp_path: Path) -> None:
    with live_against_fake(tmp_path) as (fake, daemon):
        fake.fail_next(status=401, body={"code": -2015, "msg": "Invalid API-key, IP, or permissions."})
        daemon.rt.bar_job(START)  # returns: the job survives
        failures = daemon.events("fetch_failed")
        assert len(failures) == 1 and "AuthenticationError" in failures[0][2]
        assert daemon.sleeps == []
        daemon.clock.advance_to(START + HOUR)
        daemon.rt.bar_job(START + HOUR)  # the next firing starts over and succeeds
        newest_closed = START // HOUR * HOUR
        assert stored_rows(daemon.db) == source_rows(newest_closed - (HISTORY - 1) * HOUR, newest_closed)


def test_a_fetch_failing_at_every_firing_is_told_once_per_streak(tmp_path: Path) -> None:
    """A delisted symbol or a long quiet failed every firing (three a bar
    with the late retries), and each failure was a notification: 37 in 12 s
    on a 1s timeframe. Each is still stored; a person is told when a
    streak starts, and again once fetching has worked in between."""
    refused = {"code": -2015, "msg": "Invalid API-key, IP, or permissions."}
    with live_against_fake(tmp_path) as (fake, daemon):
        told: list = []
        daemon.rt.bar_job.notify = told.append
        fake.fail_next(status=401, body=refused, times=3)
        for k in range(3):
            daemon.rt.bar_job(START + k * 1_000)
        assert len(daemon.events("fetch_failed")) == 3
        assert [e.kind for e in told] == ["fetch_failed"]
        daemon.clock.advance_to(START + HOUR)
        daemon.rt.bar_job(START + HOUR)  # fetching works: the streak is over
        fake.fail_next(status=401, body=refused, times=1)
        daemon.clock.advance_to(START + 2 * HOUR)
        daemon.rt.bar_job(START + 2 * HOUR)
        assert len(daemon.events("fetch_failed")) == 4
        assert [e.kind for e in told if e.kind == "fetch_failed"] == ["fetch_failed"] * 2


def test_a_hole_whose_fetch_fails_at_every_firing_is_told_once(tmp_path: Path) -> None:
    """The newest bars came but the hole before them could not be fetched:
    the working fetch ended the streak, and the hole's failure started a new
    one, notified, at every firing."""
    from bot.market.errors import MarketDataError

    with live_against_fake(tmp_path) as (fake, daemon):
        daemon.rt.bar_job(START)
        told: list = []
        daemon.rt.bar_job.notify = told.append
        feed = daemon.rt.bar_job.feed
        fetch_range = feed.fetch_range
        fake.drop_candles("BTC/USDT", [START - START % HOUR + 2 * HOUR], times=None)  # missing from every reply

        def a_hole_refused(symbol, start, end, now, on_page=None):
            if end != now:  # the hole's fetch; the newest bars are asked for up to now
                raise MarketDataError(f"binance {symbol}: ExchangeError: range refused")
            return fetch_range(symbol, start, end, now, on_page)

        feed.fetch_range = a_hole_refused  # the exchange refusing one kind of request only
        for k in range(4):
            daemon.clock.advance_to(START + (4 + k) * HOUR)
            daemon.rt.bar_job(START + (4 + k) * HOUR)
        assert len(daemon.events("fetch_failed")) >= 4
        assert [e.kind for e in told if e.kind == "fetch_failed"] == ["fetch_failed"]


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


NETWORK_FAULTS = {
    "unavailable": (lambda fake: fake.fail_next(status=503, times=9), "ExchangeNotAvailable: 503 Service Unavailable"),
    "geo_block": (lambda fake: fake.fail_next(status=451, times=9, body={"code": 0, "msg": "restricted location"}),
                  "ExchangeNotAvailable: 451 Unavailable For Legal Reasons"),
    "timeout": (lambda fake: fake.slow_next("/api/v3/klines", seconds=2.0, times=9), "RequestTimeout: timed out"),
    "refused": (None, "NetworkError: [Errno 111] Connection refused"),
}


@pytest.mark.parametrize("fault", NETWORK_FAULTS)
def test_network_failures_say_which_they_are(tmp_path: Path, fault: str) -> None:
    inject, said = NETWORK_FAULTS[fault]
    with live_against_fake(tmp_path) as (fake, daemon):
        if inject is None:  # nothing listens where the exchange should be
            daemon.rt.feed.exchange.urls["api"] = {
                name: url.replace(fake.base_url, f"http://127.0.0.1:{a_closed_port()}") if isinstance(url, str)
                else url for name, url in daemon.rt.feed.exchange.urls["api"].items()}
        else:
            inject(fake)
        daemon.rt.bar_job(START)
        [(_, _, message)] = daemon.events("fetch_failed")
        assert message.startswith("binance BTC/USDT: gave up after 5 attempts: " + said), message
        assert "http" not in message


def test_broken_candle_is_rejected_logged_and_the_symbol_not_traded_on_it(tmp_path: Path) -> None:
    broken = SOURCE.reset_index()
    hit = (START // HOUR + 3) * HOUR
    broken.loc[broken.timestamp == hit, "high"] = 1.0  # high below open and close
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", broken, "1h")
        daemon = Daemon(tmp_path, fake, clock, {"market": {"gap_retries": 2, "page_limit": 100}})
        daemon.rt.bar_job(START)
        daemon.run_until(hit + HOUR + 10_000)  # the broken bar's firing
        assert [m for _, _, m in daemon.events("bar_rejected")] == ["high below open, close or low"]
        assert rows(daemon.db, f"SELECT COUNT(*) FROM bars WHERE ts >= {hit}")[0][0] == 0
        daemon.run_until(hit + 2 * HOUR + 10_000)  # a good bar after a hole: held, not stepped
        assert rows(daemon.db, f"SELECT COUNT(*) FROM bars WHERE ts >= {hit}")[0][0] == 0
        assert len(daemon.events("gap_pending")) == 1
        daemon.run_until(hit + 5 * HOUR + 10_000)  # retries spent: the hole is accepted, stepping resumes
        assert len(daemon.events("gap_unfilled")) == 1
        stored = [ts for (ts,) in rows(daemon.db, "SELECT ts FROM bars ORDER BY ts")]
        assert hit not in stored and hit + HOUR in stored and stored[-1] == hit + 4 * HOUR
        daemon.close()


def test_extreme_move_confirmed_by_a_second_look_is_flagged_and_kept(tmp_path: Path) -> None:
    spiked = SOURCE.reset_index()
    hit = (START // HOUR + 2) * HOUR
    row = spiked.timestamp == hit
    spiked.loc[row, ["close", "high"]] = spiked.loc[row, "open"].iloc[0] * 1.5
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", spiked, "1h")
        daemon = Daemon(tmp_path, fake, clock)
        daemon.rt.bar_job(START)
        daemon.run_until(hit + HOUR + 10_000)
        flagged = daemon.events("extreme_move")
        assert len(flagged) == 1 and flagged[0][0] == hit
        assert daemon.events("price_held") == []  # the second look served the same values
        confirmed = daemon.events("price_confirmed")
        assert [ts for ts, _, _ in confirmed] == [hit] and "served again" in confirmed[0][2]
        assert rows(daemon.db, f"SELECT close FROM bars WHERE ts = {hit}")[0][0] == spiked.loc[row, "close"].iloc[0]
        daemon.close()


@pytest.mark.parametrize("late_bars", [1, 3])
def test_a_symbol_whose_bars_come_late_steps_them_after_the_others(tmp_path: Path, late_bars: int) -> None:
    """ETH's newest candles are late (past the firing and both late retries)
    while BTC's come on time; then they are served. ETH's bars step after
    BTC has stepped those times: every bar of both is stored once, ETH's
    positions are stored at its own times, and the equity keeps the one row
    per time its on-time step wrote (before, the late step wrote a second
    equity row at that time, its commit failed and ETH's bars were lost)."""
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_generated_market("BTC/USDT", "1h", seed=1)
        fake.add_generated_market("ETH/USDT", "1h", seed=2)
        daemon = Daemon(tmp_path, fake, clock, {"symbols": ["BTC/USDT", "ETH/USDT"]})
        try:
            daemon.rt.bar_job(START)
            late = (START // HOUR) * HOUR  # the bar that closes at START + 1h
            fake.hide_after("ETH/USDT", late)
            daemon.run_until(late + late_bars * HOUR + 60_000)
            assert daemon.rt.engine.last_ts["BTC/USDT"] == late + (late_bars - 1) * HOUR
            assert daemon.rt.engine.last_ts["ETH/USDT"] < late  # held back all along
            fake.unhide("ETH/USDT")
            daemon.run_until(late + (late_bars + 3) * HOUR)
            stepped = daemon.rt.engine.last_ts
        finally:
            daemon.close()
    db = tmp_path / "bot.sqlite"
    times = [late + k * HOUR for k in range(late_bars + 2)]  # each closes an hour after it opens
    for symbol in ("BTC/USDT", "ETH/USDT"):
        assert [t for (t,) in rows(db, f"SELECT ts FROM bars WHERE symbol = '{symbol}' AND ts >= {late}")] == times
        assert [t for (t,) in rows(db, f"SELECT ts FROM positions WHERE symbol = '{symbol}' AND ts >= {late}")] \
            == times
        assert stepped[symbol] == times[-1]
    assert [t for (t,) in rows(db, f"SELECT ts FROM equity WHERE ts >= {late} ORDER BY ts")] == times


class MaintenancePage(FakeExchange):
    """Answers the candle request with HTTP 200 and an HTML page while `down`."""

    down = False

    def _route(self, method, path, query):
        if path == KLINES and self.down:
            return Reply(200, b"<html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"})
        return super()._route(method, path, query)


def test_an_exchange_that_answers_without_candles_is_said_once_and_its_recovery_too(tmp_path: Path) -> None:
    """Nothing fails while the exchange serves a page with 200 instead of
    candles, so no other event told of it: the daemon sat blind for hours."""
    clock = SimulatedClock(START)
    with MaintenancePage(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", SOURCE.reset_index(), "1h")
        daemon = Daemon(tmp_path, fake, clock)
        try:
            daemon.rt.bar_job(START)
            newest = rows(daemon.db, "SELECT MAX(ts) FROM bars")[0][0]
            fake.down = True
            daemon.run_until(START + 6 * HOUR)
            [(_, symbol, message)] = daemon.events("data_stalled")
            assert symbol == "BTC/USDT" and message.startswith("no new BTC/USDT bar stepped for 3 bars")
            fake.down = False
            daemon.run_until(START + 8 * HOUR)
            [(_, _, resumed)] = daemon.events("data_resumed")
            assert resumed.startswith("BTC/USDT is stepping again")
            assert len(daemon.events("data_stalled")) == 1
        finally:
            daemon.close()
    stepped = [ts for (ts,) in rows(tmp_path / "bot.sqlite", f"SELECT ts FROM bars WHERE ts > {newest} ORDER BY ts")]
    assert stepped == [newest + k * HOUR for k in range(1, 9)]  # the hours it missed, every one, once


def test_a_candle_is_closed_by_the_exchanges_clock_when_it_runs_behind(tmp_path: Path) -> None:
    """The exchange's clock 40 minutes behind ours: the candle our clock
    calls closed is still forming there. It was stored with its partial
    prices and volume for good; now it waits for the exchange's close."""
    clock = SimulatedClock(START)
    lag = {"ms": 0}
    with FakeExchange(now=lambda: clock.now_ms() - lag["ms"]) as fake:
        fake.add_generated_market("BTC/USDT", "1h", seed=1)
        daemon = Daemon(tmp_path, fake, clock)
        try:
            daemon.rt.bar_job(START)
            lag["ms"] = 40 * 60_000
            daemon.run_until(START + 3 * HOUR)
            lag["ms"] = 0
            daemon.run_until(START + 5 * HOUR)
            first = (START // HOUR) * HOUR
            stored = [r for r in stored_rows(daemon.db) if r[0] >= first]
            final = [fake.candle("BTC/USDT", ts) for ts, *_ in stored]
        finally:
            daemon.close()
    assert len(stored) == 5 and stored == final


@pytest.mark.parametrize("factor", [100.0, 0.01])
def test_a_feed_at_the_wrong_scale_for_several_bars_is_never_stepped(tmp_path: Path, factor: float) -> None:
    """The first bar at 100 times the price was rejected; the hole it left
    made the second "after a hole", judged by nothing: it was confirmed by
    the third, of the same broken feed, and traded."""
    scaled = SOURCE.reset_index()
    hit = (START // HOUR + 3) * HOUR
    broken = (scaled.timestamp >= hit) & (scaled.timestamp < hit + 3 * HOUR)
    scaled.loc[broken, ["open", "high", "low", "close"]] *= factor
    clock = SimulatedClock(START)
    with FakeExchange(now=clock.now_ms) as fake:
        fake.add_csv_market("BTC/USDT", scaled, "1h")
        daemon = Daemon(tmp_path, fake, clock, {"market": {"gap_retries": 2, "page_limit": 100}})
        daemon.rt.bar_job(START)
        daemon.run_until(hit + 8 * HOUR + 10_000)
        rejected = [ts for ts, _, _ in daemon.events("bar_rejected")]
        assert rejected == [hit, hit + HOUR, hit + 2 * HOUR]
        stored = [ts for (ts,) in rows(daemon.db, "SELECT ts FROM bars ORDER BY ts")]
        assert not set(rejected) & set(stored)
        assert stored[-1] == hit + 7 * HOUR  # the feed came back: stepping resumed after the hole
        (low, high), = rows(daemon.db, "SELECT MIN(mark), MAX(mark) FROM positions")
        assert 0.5 < high / low < 2  # nothing was marked at the wrong scale
        daemon.close()
