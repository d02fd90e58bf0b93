"""The wait a rate-limited exchange asks for, read from its last reply,
whichever of ccxt's errors its refusal became."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import ccxt
import pytest

from bot.market.retry_after import LONGEST_S, QuietPeriod, retry_after_seconds


class Replied:
    """What ccxt keeps of an exchange's last reply: its headers."""

    def __init__(self, retry_after: str | None) -> None:
        self.last_response_headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            self.last_response_headers["retry-after"] = retry_after


@pytest.mark.parametrize("error", [ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.ExchangeNotAvailable])
def test_every_refusal_that_may_ask_for_quiet_is_heard(error: type[Exception]) -> None:
    """Only binance's 429 (DDoSProtection in ccxt) was heard: kraken's and
    bybit's 429 come as RateLimitExceeded, which is no kind of it."""
    clock = [100.0]
    quiet = QuietPeriod(clock=lambda: clock[0])
    assert quiet.note(Replied("30"), error("refused")) == 30.0
    assert quiet.left() == 30.0
    clock[0] += 31
    assert quiet.left() == 0.0


def test_a_timeout_asks_for_nothing_whatever_the_headers_say() -> None:
    quiet = QuietPeriod(clock=lambda: 0.0)
    assert quiet.note(Replied("30"), ccxt.RequestTimeout("no reply")) is None and quiet.left() == 0.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("12", 12.0), ("0", 0.0), ("-5", 0.0), ("inf", LONGEST_S), ("1e12", LONGEST_S), ("nan", None),
    ("soon", None), (None, None),
])
def test_the_wait_is_read_bounded(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(Replied(header)) == seconds


def test_an_http_date_is_read_as_the_time_left() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after_seconds(Replied(when)) <= 120


def test_a_short_wait_slept_out_leaves_a_longer_one_in_place() -> None:
    """The feed and the broker share one quiet: the feed's retry that slept
    out its own 3 s cleared the broker's 600 s with it."""
    quiet = QuietPeriod(clock=lambda: 0.0)
    quiet.note(Replied("600"), ccxt.DDoSProtection("account: 429"))
    quiet.note(Replied("3"), ccxt.DDoSProtection("klines: 429"))
    quiet.waited(3.0)  # a stand-in sleep: the clock has not moved
    assert quiet.left() == 600.0
    quiet.waited(600.0)
    assert quiet.left() == 0.0
