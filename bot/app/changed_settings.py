"""Which decision settings differ between a stored run and today's config.

A resume under other decision settings is refused (the run's fills would
mix two strategies). The refusal used to say only "other settings"; a
person who changed one key an hour ago, or whose environment sets a
BOT__ variable they forgot, had to find it by hand. The settings a run was
made with are stored beside its hash (runs made before this keep only the
hash, and get the old message)."""

from __future__ import annotations

import json
from typing import Any

from bot.dotted_keys import dotted

DECISION_SETTINGS_KEY = "decision_settings"
SHOWN = 3  # changes named in one line; the rest are counted


def changed_settings(stored: str | None, current: str) -> str:
    """ " (model.horizon_bars 48 -> 24; ...)" for the message, or "" when
    the stored settings are unknown or unreadable."""
    try:
        before = dotted(json.loads(stored)) if stored else None
    except ValueError:
        before = None
    if not isinstance(before, dict):
        return ""
    after = dotted(json.loads(current))
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k, _ABSENT) != after.get(k, _ABSENT))
    if not keys:
        return ""
    shown = [f"{k} {_shown(before.get(k, _ABSENT))} -> {_shown(after.get(k, _ABSENT))}" for k in keys[:SHOWN]]
    more = f"; and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return f" ({'; '.join(shown)}{more})"


_ABSENT = object()


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(unset)"
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
