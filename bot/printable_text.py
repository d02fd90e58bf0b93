"""Text the bot did not write itself (exchange messages, strategy reasons,
stored events, file names, arguments) is shown, never obeyed: its control
characters, terminal escape sequences among them, are written as their
escapes (`\\x1b`). Layout characters (newline, tab) are kept."""

from __future__ import annotations

KEPT = "\n\t"  # layout, not commands


def printable(text: str) -> str:
    """`text` with every control character written as its escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in KEPT else repr(ch)[1:-1] for ch in text)
