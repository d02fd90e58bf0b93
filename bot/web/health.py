"""Is the daemon still stepping bars? The answer behind /api/v1/health, for
Docker's HEALTHCHECK, systemd or an uptime monitor: healthy while the
newest stored bar closed less than two timeframes (plus the bar delay)
ago, so one late bar is not an alarm and a stuck daemon is."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.store import Store
from bot.timeframes import iso_utc


@dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str
    newest_bar: str | None
    seconds_since_bar_close: float | None


def health(store: Store, cfg: Config, now_ms: int) -> Health:
    newest = {s: ts for s in cfg.symbols if (ts := store.last_bar_ts(s)) is not None}
    if not newest:
        return Health(False, "no bar stored yet", None, None)
    # The stalest symbol decides: one symbol stuck is a daemon not doing its job.
    stalest = min(newest, key=lambda s: newest[s])
    oldest_newest = newest[stalest]
    closed_ms = oldest_newest + cfg.timeframe_ms
    age_ms = now_ms - closed_ms
    limit_ms = 2 * cfg.timeframe_ms + cfg.schedule.bar_delay_seconds * 1000
    seconds = round(age_ms / 1000, 3)
    if age_ms > limit_ms:
        # Named: with other symbols current, "the newest bar" read as the run's newest.
        reason = (
            f"{stalest}'s newest bar closed {seconds:g} s ago, more than two timeframes plus the bar delay"
            f"{' (the stalest of the symbols)' if len(cfg.symbols) > 1 else ''}"
        )
        return Health(False, reason, iso_utc(oldest_newest), seconds)
    return Health(True, "stepping bars", iso_utc(oldest_newest), seconds)
