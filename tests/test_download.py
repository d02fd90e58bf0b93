"""`bot download` against the fake exchange: multi-page history equal to the
source row for row, holes asked for again, and a download killed mid-way
that resumes where it stopped."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fake_exchange import KLINES, FakeExchange
from helpers import BUNDLED_BTC, REPO, rows, wait_until, write_config

from bot.app.runtime import open_store_file
from bot.config import load_config
from bot.market.ccxt_feed import CcxtFeed, make_exchange
from bot.market.download import HistoryDownload
from bot.timeframes import parse_iso_ms

HOUR = 3_600_000
SOURCE = pd.read_csv(BUNDLED_BTC)
SINCE, UNTIL = "2023-01-01", "2023-03-15"  # 1,752 hourly candles, no gap in the data


def source_rows(since_ms: int, until_ms: int) -> list[tuple]:
    part = SOURCE[(SOURCE.timestamp >= since_ms) & (SOURCE.timestamp < until_ms)]
    return [tuple(r) for r in part.itertuples(index=False, name=None)]


def candle_rows(db: Path) -> list[tuple]:
    return rows(db, "SELECT ts, open, high, low, close, volume FROM candles ORDER BY ts")


@pytest.fixture
def fake():
    with FakeExchange() as exchange:
        exchange.add_csv_market("BTC/USDT", SOURCE, "1h")
        yield exchange


def config_for(tmp_path: Path, fake: FakeExchange) -> Path:
    return write_config(tmp_path, {
        "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(), "timeout_ms": 2_000},
        "market": {"page_limit": 100, "backoff_seconds": 0.01, "backoff_max_seconds": 0.05},
    })


def download(tmp_path: Path, fake: FakeExchange, since: str = SINCE, until: str = UNTIL):
    cfg = load_config(config_for(tmp_path, fake))
    feed = CcxtFeed(make_exchange(cfg.exchange), "1h", HOUR, 0, cfg.market)
    store = open_store_file(cfg)
    try:
        result = HistoryDownload(feed, store, "binance", "BTC/USDT", "1h").run(
            parse_iso_ms(since), parse_iso_ms(until), fake.now())
    finally:
        store.close()
    return result


def test_multi_page_download_equals_the_source(tmp_path: Path, fake: FakeExchange) -> None:
    result = download(tmp_path, fake)
    expected = source_rows(parse_iso_ms(SINCE), parse_iso_ms(UNTIL))
    assert candle_rows(tmp_path / "bot.sqlite") == expected
    assert (result.expected, result.stored, result.holes) == (1_752, 1_752, [])
    assert result.requests >= 18  # pages of 100


def test_holes_are_asked_for_again_and_unfillable_ones_reported(tmp_path: Path, fake: FakeExchange) -> None:
    since = parse_iso_ms(SINCE)
    glitch, outage = since + 250 * HOUR, since + 700 * HOUR
    fake.drop_candles("BTC/USDT", [glitch], times=1)  # missing from one reply only
    fake.drop_candles("BTC/USDT", [outage, outage + HOUR], times=None)  # the exchange never has them
    result = download(tmp_path, fake)
    expected = [r for r in source_rows(since, parse_iso_ms(UNTIL)) if r[0] not in (outage, outage + HOUR)]
    assert candle_rows(tmp_path / "bot.sqlite") == expected
    assert result.holes == [(outage, outage + HOUR)]


def test_a_reply_that_is_no_json_is_asked_again_not_taken_for_the_end(tmp_path: Path, fake: FakeExchange) -> None:
    """ccxt makes "no candles" of a body cut short: a download stopped at
    that page and called the rest a hole the exchange does not fill."""
    download(tmp_path, fake, until="2023-01-10")
    fake.malformed_next(KLINES, times=2)  # the continuation's first reply, and the one asked again
    result = download(tmp_path, fake)
    assert fake.pending_faults() == 0
    assert candle_rows(tmp_path / "bot.sqlite") == source_rows(parse_iso_ms(SINCE), parse_iso_ms(UNTIL))
    assert (result.stored, result.holes) == (1_752, [])


# Valid JSON that ccxt reads as no candles: each was taken for the end of the exchange's history.
NOT_CANDLES = {
    "a notice where the list should be": {"code": 0, "msg": "system maintenance"},
    "an empty object": {},
    "entries that are not rows": ["a", "b"],
    "rows of nulls": [[None] * 6],
    "rows cut short": [[1_672_531_200_000, "1"]],
    "times in seconds": [[1_672_531_200, "1", "2", "0.5", "1.5", "10", 1_672_534_799, "0", 1, "0", "0", "0"]],
}


@pytest.mark.parametrize("body", NOT_CANDLES.values(), ids=NOT_CANDLES.keys())
def test_json_that_holds_no_candles_is_asked_again_not_taken_for_the_end(tmp_path: Path, fake: FakeExchange,
                                                                        body) -> None:
    download(tmp_path, fake, until="2023-01-10")
    fake.fail_next(KLINES, status=200, body=body, times=2)
    result = download(tmp_path, fake)
    assert fake.pending_faults() == 0
    assert candle_rows(tmp_path / "bot.sqlite") == source_rows(parse_iso_ms(SINCE), parse_iso_ms(UNTIL))
    assert (result.stored, result.holes) == (1_752, [])


def test_an_empty_answer_is_no_candles_asked_once(tmp_path: Path, fake: FakeExchange) -> None:
    """`[]` is the exchange saying there is nothing there: not a failure to retry."""
    cfg = load_config(config_for(tmp_path, fake))
    feed = CcxtFeed(make_exchange(cfg.exchange), "1h", HOUR, 0, cfg.market)
    fake.fail_next(KLINES, status=200, body=[], times=1)
    assert feed.fetch_range("BTC/USDT", parse_iso_ms(SINCE), parse_iso_ms(UNTIL), fake.now()) == []
    assert fake.pending_faults() == 0
    assert [path for _, path, _ in fake.requests].count(KLINES) == 1


def test_duplicates_and_broken_candles_do_not_get_in(tmp_path: Path, fake: FakeExchange) -> None:
    since = parse_iso_ms(SINCE)
    fake.duplicate_candles("BTC/USDT", [since + 10 * HOUR], conflicting=True)
    result = download(tmp_path, fake, until="2023-01-05")
    assert candle_rows(tmp_path / "bot.sqlite") == source_rows(since, parse_iso_ms("2023-01-05"))
    assert result.holes == []
    conflicts = rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM events WHERE kind = 'bar_conflict'")
    assert conflicts[0][0] == 1


def stored_count(db: Path) -> int:
    """Candles stored so far by a download running in another process."""
    try:
        return rows(db, "SELECT COUNT(*) FROM candles")[0][0]
    except sqlite3.OperationalError:  # no file or no table yet
        return 0


def bot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}


def test_killed_download_resumes_and_matches_the_source(tmp_path: Path, fake: FakeExchange) -> None:
    config = config_for(tmp_path, fake)
    db, out = tmp_path / "bot.sqlite", tmp_path / "btc.csv.gz"
    args = bot("download", "-c", str(config), "--exchange", "binance", "--symbol", "BTC/USDT",
               "--timeframe", "1h", "--since", SINCE, "--until", UNTIL, "--out", str(out))
    fake.slow_next("/api/v3/klines", seconds=0.4, times=100)
    first = subprocess.Popen(args, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: stored_count(db) >= 300, timeout_s=60, what="300 candles stored", poll_s=0.1,
                   process=first)
    finally:  # killed however the wait ended, as before
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    partial = rows(db, "SELECT COUNT(*) FROM candles")[0][0]
    assert 300 <= partial < 1_752  # really interrupted mid-way
    assert not out.exists()

    fake.clear_faults()
    requests_before = len(fake.requests)
    second = subprocess.run(args, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "1,752 of 1,752 closed candles stored" in second.stderr and "no holes" in second.stderr
    expected = source_rows(parse_iso_ms(SINCE), parse_iso_ms(UNTIL))
    assert candle_rows(db) == expected
    written = pd.read_csv(out)
    assert [tuple(r) for r in written.itertuples(index=False, name=None)] == expected
    resumed_from = [int(q["startTime"]) for _, path, q in fake.requests[requests_before:] if path.endswith("/klines")]
    assert min(resumed_from) >= parse_iso_ms(SINCE) + partial * HOUR  # continued, did not start over


def test_an_exchange_out_of_reach_is_one_line_and_no_crash(tmp_path: Path) -> None:
    """No network (here: the exchange's port closed): after its retries
    `bot download` says so in one line and exits 1; the log holds the
    reason as an error, not a crash with a traceback."""
    with FakeExchange() as gone:
        config = config_for(tmp_path, gone)
    done = subprocess.run([sys.executable, "-m", "bot", "download", "-c", str(config), "--since", SINCE,
                           "--until", UNTIL], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("exchange error: binance BTC/USDT: gave up after 6 attempts: "), done.stderr
    assert "exchange_failed" not in done.stderr  # the log file has it; the console one line
    assert "Traceback" not in done.stderr
    log = (tmp_path / "bot.jsonl").read_text()
    assert '"exchange_failed"' in log and '"crashed"' not in log and "Traceback" not in log


NEVER_CANDLES = {
    # A maintenance page, or every body cut short: it exited 0, "0 of 1,752 closed candles stored",
    # with an empty CSV in place.
    "no JSON": (lambda fake: fake.malformed_next(KLINES, times=100),
                "the reply was not JSON (cut short, or not an answer)"),
    # A notice where the candle list should be: the same, through valid JSON.
    "no candles": (lambda fake: fake.fail_next(KLINES, status=200, body={"code": 0, "msg": "system maintenance"},
                                               times=100),
                   "the reply held no candle list: {'code': 0, 'msg': 'system maintenance'}"),
}


@pytest.mark.parametrize(("serve", "says"), NEVER_CANDLES.values(), ids=NEVER_CANDLES.keys())
def test_an_exchange_that_never_answers_candles_fails_the_download_in_one_line(tmp_path: Path, fake: FakeExchange,
                                                                               serve, says: str) -> None:
    config = config_for(tmp_path, fake)
    out = tmp_path / "btc.csv"
    serve(fake)
    done = subprocess.run(bot("download", "-c", str(config), "--since", SINCE, "--until", UNTIL, "--out", str(out)),
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and not out.exists(), done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"exchange error: binance BTC/USDT: gave up after 6 attempts: NetworkError: {says}"), done.stderr


def test_out_is_not_written_for_an_empty_range_nor_under_another_markets_name(tmp_path: Path,
                                                                             fake: FakeExchange) -> None:
    config = config_for(tmp_path, fake)
    out = tmp_path / "BTC_USDT-1h.csv"
    out.write_text("a file of the user's own\n")
    # Years before the source's first candle (2021-06): a header-only file replaced it, exit 0.
    done = subprocess.run(bot("download", "-c", str(config), "--since", "2019-01-01", "--until", "2019-01-03",
                              "--out", str(out)), cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --out: no closed BTC/USDT 1h candle lies in that range (before the market was listed, or not "
        f"closed yet); {out} not written")
    assert out.read_text() == "a file of the user's own\n"

    # BTC's candles under ETH's name were replayed as ETH's without a word.
    for name, says in (("ETH_USDT-1h.csv.gz", "ETH/USDT 1h"), ("BTC_USDT-5m.csv", "BTC/USDT 5m"),
                       ("BTC_USDT-1M.csv", "BTC/USDT 1M")):
        done = subprocess.run(bot("download", "-c", str(config), "--since", SINCE, "--until", UNTIL,
                                  "--out", str(tmp_path / name)), cwd=REPO, env=env(), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (f"config error: --out: {name} is named for {says}, but this download is "
                                       "BTC/USDT 1h; name the file for what it holds, or give it a name without "
                                       "a symbol"), done.stderr
        assert not (tmp_path / name).exists()
    same = tmp_path / "BTC_USDT-60m.csv"  # 60m is 1h
    done = subprocess.run(bot("download", "-c", str(config), "--since", SINCE, "--until", "2023-01-02",
                              "--out", str(same)), cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and len(pd.read_csv(same)) == 24, done.stderr


@pytest.mark.parametrize(("since", "says"), [
    ("2024-13-01", "--since: '2024-13-01' is not an ISO date"),  # exit 1 before, where every other bad option is 2
    ("2999-01-01", "--since: 2999-01-01 is in the future"),  # "0 of 0 closed candles stored", exit 0
    ("1969-12-31", "--since: 1969-12-31 is before 1970-01-01"),  # a negative startTime was sent
])
def test_a_since_that_cannot_be_downloaded_is_refused_as_an_option(tmp_path: Path, since: str, says: str) -> None:
    with FakeExchange() as gone:
        config = config_for(tmp_path, gone)
    done = subprocess.run([sys.executable, "-m", "bot", "download", "-c", str(config), "--since", since],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"config error: {says}"), lines
    assert not (tmp_path / "bot.sqlite").exists()
