"""Notifications: chosen events (a kill switch, a stop-out, a halt, a
failed fetch...) sent through apprise to the URLs in BOT_NOTIFY_URLS
(space- or comma-separated: `tgram://...`, `json://host/path`, `mailto://...`;
apprise knows some hundred services). The URLs hold tokens, so they come
from the environment only and are scrubbed from logs like every secret.

The bar job only puts an event on a queue; a thread of the notifier's own
sends it. A receiver that is down or slow delays no bar: its messages wait
on the queue (at most QUEUE_SIZE, the newest dropped after that and
counted), and at the end of a run the notifier waits for them only so
long (`notify.drain_seconds`)."""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Mapping

import structlog

from bot.config import ConfigError
from bot.domain import Event, Fill, Side
from bot.price_text import price_text
from bot.secrets import register_secret, scrub
from bot.timeframes import iso_utc

log = structlog.get_logger("bot.notify")

URLS_ENV = "BOT_NOTIFY_URLS"
QUEUE_SIZE = 1_000
_STOP = object()


def urls_from_env() -> list[str]:
    """The notification URLs, each one apprise can send to (ConfigError
    otherwise), registered as secrets."""
    urls = [u for u in re.split(r"[\s,]+", os.environ.get(URLS_ENV, "")) if u]
    _refuse_unknown(urls)
    for url in urls:
        register_secret(url)
        # ...and what follows its scheme: a library may show the URL under
        # another scheme (apprise sends json:// as http://).
        register_secret(url.split("://", 1)[-1].split("?", 1)[0])
    return urls


def _refuse_unknown(urls: list[str]) -> None:
    """A URL apprise cannot use used to be accepted at start, and each
    notification then failed with a warning. The refusal names the URL's
    place and scheme only: the rest may be a token. Nothing is registered
    as a secret before: the words of "not a url" would have been, and every
    `a` in the log masked."""
    if not urls:
        return
    for n, url in enumerate(urls, 1):
        if _apprise_takes(url):
            continue
        place = f"URL {n} of {len(urls)}" if len(urls) > 1 else "the URL"
        scheme = url.split("://", 1)[0] if "://" in url else None
        what = f"({scheme}://...) is not one apprise can send to" if scheme else "is not a URL"
        raise ConfigError(
            f"{URLS_ENV}: {place} {what}; give URLs like json://host/path or tgram://token/chat, "
            "separated by spaces or commas"
        )


def _apprise_takes(url: str) -> bool:
    """Whether apprise can send to `url`, asked with its logger silent: it
    logs the URL it refuses whole, token and all, before any mask knows it."""
    import logging

    import apprise  # only where notifications are asked for: a tenth of a second to import

    apprise_log = logging.getLogger("apprise")
    was = apprise_log.disabled
    apprise_log.disabled = True
    try:
        return bool(apprise.Apprise().add(url))
    finally:
        apprise_log.disabled = was


LEVEL_RANK = {"info": 0, "warning": 1, "error": 2}
RETRY_WAIT_S = (1.0, 3.0, 10.0)  # between tries of one message, then the last again


class Notifier:
    def __init__(self, urls: list[str], levels: Mapping[str, str], timeout_s: float, retries: int = 2) -> None:
        self.urls = urls
        self.levels = levels  # event kind (or "*") -> the lowest level sent, or "off"
        self.timeout_s = timeout_s
        self.retries = retries
        self.dropped = 0  # messages that found the queue full
        self.failed = 0  # messages given up on after every try
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def wants(self, event: Event) -> bool:
        """Its kind (a blocked entry: its rule) is sent at its level."""
        topic = event.kind
        if topic == "order_blocked" and event.data and "rule" in event.data:
            topic = event.data["rule"]
        lowest = self.levels.get(topic, self.levels.get("*", "off"))
        return lowest != "off" and LEVEL_RANK.get(event.level, 0) >= LEVEL_RANK[lowest]

    def offer(self, event: Event) -> None:
        """Queue the event if it is one to send; never blocks."""
        if not self.wants(event):
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    @property
    def sending(self) -> bool:
        """Still at work: a message in flight or queued."""
        return self._thread.is_alive()

    def close(self, drain_s: float) -> None:
        """Send what is queued for at most drain_s seconds, then give up: a
        daemon's stop never waits on a receiver."""
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(drain_s)
        if self._thread.is_alive() or self.dropped or self.failed:
            log.warning("notifications_unsent", queued=self._queue.qsize(), dropped=self.dropped, failed=self.failed)

    def offer_fill(self, fill: Fill) -> None:
        """A fill as a message of kind `fill` (fills are not events)."""
        verb = "bought" if fill.side == Side.BUY else "sold"
        price = price_text(fill.price)
        text = f"{verb} {fill.qty:.6f} {fill.symbol} @ {price}, fee {fill.fee:.2f} (order {fill.order_id})"
        self.offer(Event(fill.ts, "fill", text, "info", fill.symbol))

    def _run(self) -> None:
        sender = None
        while (event := self._queue.get()) is not _STOP:
            sender = sender or self._sender()
            for attempt in range(self.retries + 1):
                if attempt:
                    time.sleep(RETRY_WAIT_S[min(attempt, len(RETRY_WAIT_S)) - 1])
                if self._send(sender, event):
                    break
                log.warning("notification_failed", kind=event.kind, attempt=attempt + 1, of=self.retries + 1)
            else:
                self.failed += 1

    @staticmethod
    def _send(sender, event: Event) -> bool:
        try:
            return bool(sender.notify(title=_title(event), body=_body(event), notify_type=_notify_type(event)))
        except Exception:  # a plugin's bug must not end the thread
            log.exception("notification_error", kind=event.kind)
            return False

    def _sender(self):
        import apprise  # on first use: a run that sends nothing need not load it

        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        timeout = f"cto={self.timeout_s:g}&rto={self.timeout_s:g}"
        for url in self.urls:
            sender.add(url + ("&" if "?" in url else "?") + timeout)
        return sender


def _notify_type(event: Event) -> str:
    """apprise's type of message, from the event's level: receivers colour
    or filter by it (a kill switch arrived as routine info)."""
    return {"warning": "warning", "error": "failure"}.get(event.level, "info")


def _title(event: Event) -> str:
    where = f" {event.symbol}" if event.symbol else ""
    return f"bot: {event.kind.replace('_', ' ')}{where}"


def _body(event: Event) -> str:
    # An exchange's error text may echo a credential (a key in a refused order's reply).
    return scrub(f"{event.message} (bar {iso_utc(event.ts)}, {event.level})")
