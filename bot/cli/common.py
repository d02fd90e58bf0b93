"""What every `bot` command shares: the consoles, the --config option and
the guard that turns an expected failure into one line on stderr and an
exit code (2 for a config the bot refuses, 1 for anything else) instead of
a traceback. Tracebacks go to the log file only."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

from bot.cli.safe_console import SafeConsole
from bot.config import Config, ConfigError
from bot.db_file_name import one_name
from bot.error_text import first_line
from bot.logging_setup import file_only
from bot.market.errors import DataFileError, MarketDataError
from bot.printable_text import printable
from bot.stop_grace import Stopped
from bot.writer_lease import LeaseHeld, ServerLease, WriterLease, take_lease

# Piped or captured output gets room for whole tables, not 80 columns.
# No markup: what is printed comes from the ledger, the exchange, strategies
# and paths, and a "[/]" in any of them must print as itself, not restyle
# or break the output. Styling is done with Text objects.
console = SafeConsole(width=None if sys.stdout.isatty() else 160, markup=False)
err_console = SafeConsole(stderr=True, soft_wrap=True, markup=False)  # paths must not be broken across lines

ConfigPath = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
DEFAULT_CONFIG = Path("config.yaml")


class UserError(Exception):
    """A failure the user can fix; printed as one line, exit code 1."""


def exit_now(code: int = 0) -> None:
    """Exit without the interpreter's teardown: it joins every worker
    thread, and one still blocked (a bar step or retrain abandoned after
    the grace, a request waiting on a locked database) held the exit for
    as long as it waited. What matters is committed or flushed first."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def say_error(line: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width. Control
    characters (terminal escapes, newlines) from a file, an exchange or an
    argument are shown as escapes, never obeyed."""
    sys.stderr.write(printable(line).replace("\n", "\\n") + "\n")
    sys.stderr.flush()


def guarded(command):
    """One line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        # Owner-only files (database, log, models, reports): a ledger is
        # nobody else's business on a shared machine.
        os.umask(0o077)
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            say_error(f"config error: {exc}")
            raise typer.Exit(2) from None
        except DataFileError as exc:
            say_error(f"data error: {exc}")
            raise typer.Exit(2) from None
        except LeaseHeld as exc:
            say_error(f"refused: {exc}")
            raise typer.Exit(2) from None
        except UserError as exc:
            say_error(f"error: {exc}")
            raise typer.Exit(1) from None
        except MarketDataError as exc:
            # Network down, exchange refusing: said in one line and logged
            # as what it is, without the traceback of a crash.
            from bot.secrets import scrub

            if structlog.is_configured():
                with file_only():
                    structlog.get_logger("bot.cli").error("exchange_failed", error=scrub(str(exc)))
            say_error(scrub(f"exchange error: {exc}"))
            raise typer.Exit(1) from None
        except typer.Exit:
            raise  # a deliberate exit code, not a failure
        except KeyboardInterrupt as exc:
            # Every command, not only a run: a download's pages, a training's registration.
            how = f"stopped by {exc.name}" if isinstance(exc, Stopped) else "interrupted"
            say_error(f"{how}; what was committed before is kept")
            raise typer.Exit(exc.exit_code if isinstance(exc, Stopped) else 130) from None
        except Exception as exc:
            if structlog.is_configured():  # else structlog's default would print the traceback, locals and all
                with file_only():
                    structlog.get_logger("bot.cli").exception("crashed")
            from bot.secrets import scrub

            lost = _database_error(exc)
            if lost is not None:  # a server gone, a file locked: the world's fault, in the driver's words
                say_error(scrub(f"database error: {lost}; what was committed is kept (details in the log file)"))
            else:
                say_error(scrub(f"error: {type(exc).__name__}: {exc} (details in the log file)"))
            raise typer.Exit(1) from None

    return wrapper


def start_logging(cfg: Config, console_level: str = "ERROR") -> None:
    """Log to the run's JSON-lines file, so a failure's traceback lands
    there while the console gets one line."""
    from bot.logging_setup import configure_logging
    from bot.writable import check_writable_directory

    log_file = cfg.path(cfg.logging.file)
    if log_file.is_dir():
        raise ConfigError(f"logging.file: {log_file} is a directory")
    check_writable_directory(log_file.parent, "logging.file")
    configure_logging(cfg.logging.level, log_file, console_level=console_level)


def hold_the_run(cfg: Config, command: str) -> WriterLease | ServerLease | None:
    """The run's writer lease, held until this process exits; refused in
    one line when another process holds it (bot/writer_lease.py)."""
    import time

    return take_lease(cfg.db_url, command, int(time.time() * 1000))


def _database_error(exc: BaseException) -> str | None:
    """The driver's first line when `exc` is a database's operational error
    (connection lost or refused, database locked), else None. SQLAlchemy is
    looked at only when something loaded it: a crash needs no slow import."""
    alchemy = sys.modules.get("sqlalchemy.exc")
    if alchemy is None or not isinstance(exc, alchemy.OperationalError):
        return None
    return first_line(exc)


def open_existing_store(cfg: Config):
    """The run's store for reading; refuses to create an empty database."""
    from bot.store import Store, sqlite_path

    db = sqlite_path(cfg.db_url)
    if db is not None and not db.exists():
        one_name(db)  # a loop of symbolic links "exists" no more than a new run's name
        raise UserError(f"no run yet in {db}: start one with `bot run`")
    # Only now, a file being there: a reader refused for a mistyped path made
    # that path's log directories and an empty log file. What fails after
    # this is in the log, as the console's "(details in the log file)" says.
    start_logging(cfg)
    if db is not None:
        from bot.store.integrity import check_existing_database

        # Refused: e.g. an emptied run's database. No run yet: an empty file,
        # or a first start's cut short; opening it would write a schema into
        # it and answer as if a run were there.
        if not check_existing_database(db, cfg.path(cfg.storage.models_dir)):
            raise UserError(f"no run yet in {db}: start one with `bot run`")
    elif not server_has_run(cfg.db_url):
        raise UserError(f"no run yet in {cfg.db_shown}: start one with `bot run`")
    store = Store(cfg.db_url, reader=True)
    _refuse_other_schema(store)
    return store


def server_has_run(url: str) -> bool:
    """A server database holds a run once its tables exist (reading makes none)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.store import postgres_url

    engine = create_engine(postgres_url(url) or url)
    try:
        return inspect(engine).has_table("run_meta")
    except SQLAlchemyError as exc:  # as the writers say it (bot/writer_lease.py)
        from bot.secrets import scrub

        raise ConfigError(scrub(f"storage.db_url: cannot reach the database ({first_line(exc)})")) from None
    finally:
        engine.dispose()


def _refuse_other_schema(store) -> None:
    from bot.secrets import masked_url

    problem = store.schema_problem()
    if problem is not None:
        store.close()
        # As `bot run` refuses the same database: exit 2, the field named.
        raise ConfigError(f"storage.db_url: {masked_url(store.url)}: {problem}")
