"""An exchange that rate-limits says how long to keep quiet (Retry-After on
its 429 and 418 replies); binance turns a client that keeps asking into an
IP ban, and a ban into a longer one. The backoff's own waits (about 1, 2,
4 s) asked again well inside a Retry-After of 30 s, even after a 418 ban.

A wait the exchange asks for is kept: a retry waits at least that long, and
a wait longer than the backoff's cap ends the attempt at once, with no
request to the exchange until it has passed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import ccxt

ASKS_FOR_QUIET = (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.ExchangeNotAvailable)
# No wait asked for is kept longer than this (a day: binance's longest ban
# is days, and a header of "inf" would have kept the bot quiet until restart);
# the bot asks again then, and a refusal names the wait again.
LONGEST_S = 86_400.0


def retry_after_seconds(exchange: ccxt.Exchange) -> float | None:
    """The Retry-After of the exchange's last reply, in seconds (a number
    or an HTTP date); None when it sent none or one that is unreadable."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return LONGEST_S if seconds > 0 else None
    return min(LONGEST_S, max(0.0, seconds))


class QuietPeriod:
    """Until when the exchange asked not to be asked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until = 0.0

    def note(self, exchange: ccxt.Exchange, exc: Exception) -> float | None:
        """The wait a rate-limit refusal asked for (None: not one, or none
        asked), remembered."""
        # ccxt raises these apart (none is a kind of another): binance's 429
        # and 418 as DDoSProtection, most exchanges' 429 as
        # RateLimitExceeded, a 503 (maintenance) as ExchangeNotAvailable.
        if not isinstance(exc, ASKS_FOR_QUIET):
            return None
        asked = retry_after_seconds(exchange)
        if asked is not None:
            self._until = max(self._until, self.clock() + asked)
        return asked

    def waited(self, asked: float | None) -> None:
        """The retry slept the wait it was asked for out (by the backoff's
        own sleep, which a test may stand in for). A longer wait that the
        exchange asked of the other client sharing this quiet stands."""
        if self.left() <= (asked or 0.0):
            self._until = 0.0

    def left(self) -> float:
        """Seconds still to keep quiet (0 when free to ask)."""
        return max(0.0, self._until - self.clock())

    def says(self) -> str:
        return f"the exchange asked for quiet (Retry-After), {self.left():.0f} s left"
