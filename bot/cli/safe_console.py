"""Text the bot did not write itself (exchange messages, strategy errors,
file names, arguments) is shown, never obeyed: terminal escape sequences
and other control characters in it print as visible escapes (`\\x1b`), and
rich markup in it prints literally (the consoles are made with
markup=False). The consoles' own styling is untouched."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

KEPT = "\n\t"  # layout, not commands


def printable(text: str) -> str:
    """`text` with every control character written as its escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in KEPT else repr(ch)[1:-1] for ch in text)


class SafeConsole(Console):
    """A rich console whose plain strings (table cells included) are made
    printable before they are laid out, so the columns still line up."""

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(printable(text), **kwargs)
