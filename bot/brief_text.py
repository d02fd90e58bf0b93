"""Text a user sent (a version name, a path segment) echoed back in an
error: its start and how much was left out, never all of it. A 100 KB
argument made a 100 KB error line and a 100 KB HTTP reply."""

from __future__ import annotations

SHOWN_CHARACTERS = 80


def brief(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text` itself when short, else its first `limit` characters and a
    count of the rest."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"
