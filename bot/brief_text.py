"""Text a user sent (a version name, a path segment) echoed back in an
error: its start and how much was left out, never all of it. A 100 KB
argument made a 100 KB error line and a 100 KB HTTP reply."""

from __future__ import annotations

import re

from bot.secrets import scrub

SHOWN_CHARACTERS = 80


def brief(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text` itself when short, else its first `limit` characters and a
    count of the rest. Credentials are masked first: a cut one no longer
    matches the value that masking looks for (a strategy's exception or an
    exchange's reply may quote one)."""
    text = scrub(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


# An absolute path of three or more parts, not inside a URL or a word.
_DEEP_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^/\s'\"]+/)+(?=[^/\s'\"]+/[^/\s'\"]+)")


def hide_directories(text: str) -> str:
    """`text` with each absolute path cut to its last two parts ("…/v0003/
    config.json"): an HTTP client is told which file, not where the
    server keeps its files."""
    return _DEEP_PATH.sub("…/", text)
