"""Tests for bot.market.validation.bar_problem: every rejection reason, and good bars pass."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bot.domain import Bar
from bot.market.validation import IMPLAUSIBLE, UNPRICED, bar_problem

HOUR = 3_600_000
TS = 470_000 * HOUR  # aligned to the hour
GOOD = Bar("BTC/USDT", TS, open=100.0, high=110.0, low=90.0, close=105.0, volume=3.0)

NON_FINITE = "non-finite value"
NON_POSITIVE = "non-positive price"
HIGH = "high below open, close or low"
LOW = "low above open or close"
VOLUME = "negative volume"
ALIGN = "timestamp not aligned to the timeframe"
ORDER = "not newer than the previous bar"


@pytest.mark.parametrize(("changes", "reason"), [
    pytest.param({"open": math.nan}, NON_FINITE, id="nan-open"),
    pytest.param({"high": math.nan}, NON_FINITE, id="nan-high"),
    pytest.param({"low": math.nan}, NON_FINITE, id="nan-low"),
    pytest.param({"close": math.nan}, NON_FINITE, id="nan-close"),
    pytest.param({"volume": math.nan}, NON_FINITE, id="nan-volume"),
    pytest.param({"high": math.inf}, NON_FINITE, id="inf-high"),
    pytest.param({"low": -math.inf}, NON_FINITE, id="minus-inf-low"),
    pytest.param({"volume": math.inf}, NON_FINITE, id="inf-volume"),
    pytest.param({"low": 0.0}, NON_POSITIVE, id="zero-low"),
    pytest.param({"open": -1.0, "low": -2.0}, NON_POSITIVE, id="negative-open"),
    pytest.param({"open": 0.0, "high": 0.0, "low": 0.0, "close": 0.0}, NON_POSITIVE, id="all-zero"),
    pytest.param({"high": 102.0, "open": 104.0, "close": 101.0}, HIGH, id="high-below-open"),
    pytest.param({"high": 102.0, "close": 103.0}, HIGH, id="high-below-close"),
    pytest.param({"low": 101.0, "open": 100.5}, LOW, id="low-above-open"),
    pytest.param({"low": 101.0, "close": 100.5, "open": 106.0}, LOW, id="low-above-close"),
    pytest.param({"volume": -0.001}, VOLUME, id="negative-volume"),
    pytest.param({"ts": TS + 1}, ALIGN, id="one-ms-late"),
    pytest.param({"ts": TS + HOUR // 2}, ALIGN, id="half-hour"),
])
def test_bad_bar_is_rejected_with_its_reason(changes: dict, reason: str) -> None:
    assert bar_problem(replace(GOOD, **changes), HOUR, previous_ts=TS - HOUR) == reason


@pytest.mark.parametrize("previous_ts", [
    pytest.param(TS, id="duplicate"),
    pytest.param(TS + HOUR, id="out-of-order"),
])
def test_bar_not_newer_than_previous_is_rejected(previous_ts: int) -> None:
    assert bar_problem(GOOD, HOUR, previous_ts=previous_ts) == ORDER


@pytest.mark.parametrize(("bar", "previous_ts"), [
    pytest.param(GOOD, TS - HOUR, id="next-bar"),
    pytest.param(GOOD, None, id="first-bar"),
    pytest.param(GOOD, TS - 5 * HOUR, id="after-a-gap"),
    pytest.param(replace(GOOD, open=100.0, high=100.0, low=100.0, close=100.0), TS - HOUR, id="flat-bar"),
    pytest.param(replace(GOOD, volume=0.0), TS - HOUR, id="zero-volume"),
    pytest.param(replace(GOOD, high=105.0, low=100.0), TS - HOUR, id="high-is-close-low-is-open"),
])
def test_good_bar_passes(bar: Bar, previous_ts: int | None) -> None:
    assert bar_problem(bar, HOUR, previous_ts) is None


def test_alignment_uses_the_given_timeframe() -> None:
    """A bar on the hour is aligned for 1h but not for 4h unless on a 4h boundary."""
    four_hours = 4 * HOUR
    on_hour_only = replace(GOOD, ts=four_hours * 1000 + HOUR)
    assert bar_problem(on_hour_only, HOUR, None) is None
    assert bar_problem(on_hour_only, four_hours, None) == ALIGN


@pytest.mark.parametrize(("changes", "reason"), [
    pytest.param({"high": 1_000.0}, None, id="high-ten-times"),
    pytest.param({"high": 1_000.001}, IMPLAUSIBLE, id="high-past-ten-times"),
    pytest.param({"low": 10.0, "open": 10.0, "close": 10.0}, None, id="all-at-a-tenth"),
    pytest.param({"low": 9.999}, IMPLAUSIBLE, id="low-past-a-tenth"),
    pytest.param({"low": 1e-300}, IMPLAUSIBLE, id="low-near-nothing"),
    pytest.param({"open": 1e6, "high": 1e6, "low": 1e6, "close": 1e6}, IMPLAUSIBLE, id="all-at-1e6"),
])
def test_a_price_tenfold_from_the_previous_close_is_not_a_market_move(changes: dict, reason: str | None) -> None:
    bar = replace(GOOD, **changes)
    assert bar_problem(bar, HOUR, previous_ts=TS - HOUR, previous_close=100.0) == reason
    assert bar_problem(bar, HOUR, previous_ts=None) is None  # the first bar has nothing to be judged against
    # Judged across a hole of up to a day: a feed at the wrong scale made its
    # own hole with its first rejected bar, and its second bar went through.
    assert bar_problem(bar, HOUR, previous_ts=TS - 2 * HOUR, previous_close=100.0) == reason
    assert bar_problem(bar, HOUR, previous_ts=TS - 24 * HOUR, previous_close=100.0) == reason
    # After more than a day the market may have gone anywhere.
    assert bar_problem(bar, HOUR, previous_ts=TS - 25 * HOUR, previous_close=100.0) is None
    # A daily bar is judged against the day before it.
    day_bar = replace(bar, ts=TS - TS % (24 * HOUR))
    assert bar_problem(day_bar, 24 * HOUR, previous_ts=day_bar.ts - 24 * HOUR, previous_close=100.0) == reason


@pytest.mark.parametrize(("changes", "says"), [
    pytest.param({"open": 1e308, "high": 1e308, "low": 1e308, "close": 1e308}, UNPRICED, id="1e308"),
    pytest.param({"high": 2e12}, UNPRICED, id="high-past-1e12"),
    pytest.param({"volume": 1e300}, "a volume above 1e+18", id="volume-1e300"),
])
def test_a_number_no_market_is_priced_at_is_refused_even_as_the_first_bar(changes: dict, says: str) -> None:
    # Nothing before it to judge it by: 1e308 was accepted, bought, and its squares
    # overflowed the rolling features at every later bar.
    assert bar_problem(replace(GOOD, **changes), HOUR, previous_ts=None) == says
