"""Text the bot did not write itself (exchange messages, strategy errors,
file names, arguments) is shown, never obeyed: terminal escape sequences
and other control characters in it print as visible escapes (`\\x1b`), and
rich markup in it prints literally (the consoles are made with
markup=False). The consoles' own styling is untouched."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from bot.printable_text import printable


class SafeConsole(Console):
    """A rich console whose plain strings (table cells included) are made
    printable before they are laid out, so the columns still line up."""

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(printable(text), **kwargs)
