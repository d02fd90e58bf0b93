"""An error as one line: the driver's own first line, not a library's
wrapping. SQLAlchemy wraps the driver's error (`exc.orig`) in several lines
of its own (the statement, its parameters, a link); a user is shown the
reason, and a database error's parameters may hold data nobody asked to
see."""

from __future__ import annotations


def said(exc: BaseException) -> str:
    """The first line the error itself says, masked; "" when it says nothing."""
    from bot.secrets import scrub  # here: bot.secrets imports bot.config, which imports this

    cause = getattr(exc, "orig", None) or exc
    # Masked here, whole: callers cut the line to a length, and a cut
    # credential no longer matches the value that masking looks for.
    lines = scrub(str(cause)).strip().splitlines()
    return lines[0] if lines else ""


def first_line(exc: BaseException) -> str:
    """The first line of what went wrong, or the error's class name when it
    says nothing."""
    return said(exc) or type(getattr(exc, "orig", None) or exc).__name__
