"""structlog configuration: JSON lines to a file under state/, readable
lines on the console when it is a terminal, and secrets never written."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bot.console_lines import EventLines
from bot.secrets import scrub_values

_SECRET_HINTS = ("secret", "api_key", "apikey", "password", "token", "signature")


@functools.lru_cache(maxsize=4096)
def _names_a_secret(key: str) -> bool:
    # Cached: the same few field names come by on every log line.
    return any(hint in key.lower() for hint in _SECRET_HINTS)


def redact_secrets(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Mask any field whose name suggests a credential, whatever logged it."""
    for key in event_dict:
        if _names_a_secret(key):
            event_dict[key] = "***"
    return event_dict


def drop_tracebacks(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Console lines stay one line: the traceback goes to the log file only."""
    event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    return event_dict


def configure_logging(level: str, file: Path | None, console_level: str) -> None:
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    root.addHandler(_console_handler(console_level, shared))
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        root.addHandler(_file_handler(file, shared))
    # Libraries speak up only when something is wrong.
    # apprise's DEBUG lines quote each notification URL, rewritten (json://
    # becomes http://), which the secret masking would not recognise.
    for noisy in ("apscheduler", "ccxt", "urllib3", "sqlalchemy", "apprise"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


CONSOLE = "console"


@contextmanager
def file_only() -> Iterator[None]:
    """Log records made inside go to the log file, not the console: the CLI
    says the same in one line of its own (a crash printed two)."""
    consoles = [h for h in logging.getLogger().handlers if h.get_name() == CONSOLE]
    levels = [h.level for h in consoles]
    for handler in consoles:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)


def _console_handler(level: str, shared: list[Processor]) -> logging.Handler:
    tty = sys.stderr.isatty()
    renderer = EventLines(
        structlog.dev.ConsoleRenderer(colors=tty)
        if tty
        else structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], drop_missing=True)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(CONSOLE)
    handler.setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                drop_tracebacks,
                scrub_values,
                renderer,
            ],
        )
    )
    return handler


def _file_handler(path: Path, shared: list[Processor]) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrub_values,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
        )
    )
    return handler


def log_event(logger, event) -> None:
    """An events-table Event as a log line at its own level."""
    getattr(logger, event.level)(event.kind, symbol=event.symbol, message=event.message, **(event.data or {}))
