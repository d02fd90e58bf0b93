"""The `bot` command: run, report, trades, status.

Every command turns an expected failure (bad config, missing data, no run
yet) into one line on stderr and a non-zero exit code: 2 for a config the
bot refuses, 1 for anything else. Tracebacks go to the log file only.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from pydantic import ValidationError

from bot.config import Config, ConfigError, describe_validation_error, load_config
from bot.timeframes import iso_utc, parse_iso_ms

# Heavy modules (torch, pandas, SQLAlchemy) are imported inside the commands
# that need them, so a config error or --help answers at once.

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="LSTM paper-trading daemon: replay, live paper trading and reports.")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # paths must not be broken across lines


def say_error(line: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()

ConfigPath = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]


class UserError(Exception):
    """A failure the user can fix; printed as one line, exit code 1."""


def guarded(command):
    """One line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            say_error(f"config error: {exc}")
            raise typer.Exit(2) from None
        except UserError as exc:
            say_error(f"error: {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            say_error("interrupted; the last committed bar step is kept")
            raise typer.Exit(130) from None
        except Exception as exc:
            structlog.get_logger("bot.cli").exception("crashed")
            say_error(f"error: {type(exc).__name__}: {exc} (details in the log file)")
            raise typer.Exit(1) from None

    return wrapper


def _open_existing_store(cfg: Config):
    from bot.store import Store, sqlite_path

    db = sqlite_path(cfg.db_url)
    if db is not None and not db.exists():
        raise UserError(f"no run yet in {db}: start one with `bot run`")
    return Store(cfg.db_url)


@app.command()
@guarded
def run(
    config: ConfigPath = Path("config.yaml"),
    max_bars: Annotated[int | None, typer.Option(min=1, help="Stop after this many bars (replay).")] = None,
    fresh: Annotated[bool, typer.Option(help="Forget the stored run and start over.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the replay progress bar.")] = True,
) -> None:
    """Run the daemon: replay of bundled data by default, live with mode: live."""
    cfg = load_config(config)
    # Refuse a bad strategy before the slow imports (torch) and any state.
    from bot.strategy import load_strategy_of

    strategy = load_strategy_of(cfg)
    if cfg.mode == "replay":
        cfg.require_replay_data()
    from bot.logging_setup import configure_logging
    from bot.runtime import wipe_state

    replay = cfg.mode == "replay"
    configure_logging(cfg.logging.level, cfg.path(cfg.logging.file),
                      console_level="WARNING" if replay else cfg.logging.level)
    if fresh:
        wipe_state(cfg)
    if replay:
        _run_replay(cfg, strategy, max_bars, progress)
    else:
        _run_live(cfg, strategy)


def _run_replay(cfg: Config, strategy, max_bars: int | None, progress: bool) -> None:
    from bot.replay import open_replay, run_replay
    from bot.report.render import summary_table
    from bot.report.summary import build_summary

    rt = open_replay(cfg, strategy)
    try:
        outcome = run_replay(rt, max_bars=max_bars, console=err_console, progress=progress)
        note = "replay complete" if outcome.finished else f"stopped after {outcome.bars_this_run} bars"
        err_console.print(f"{note}; state in {cfg.db_url}")
        console.print(summary_table(build_summary(rt.store, cfg)))
    finally:
        rt.store.close()


def _run_live(cfg: Config, strategy) -> None:
    from bot.clock import SystemClock
    from bot.daemon import run_live
    from bot.market.ccxt_feed import CcxtFeed, make_exchange
    from bot.runtime import build_runtime

    history = cfg.retrain.initial_train_bars + cfg.features.warmup_bars + 100
    feed = CcxtFeed(make_exchange(cfg.exchange), cfg.timeframe, cfg.timeframe_ms, history, cfg.market)
    rt = build_runtime(cfg, clock=SystemClock(), feed=feed, strategy=strategy)
    try:
        run_live(rt)
    finally:
        rt.store.close()


@app.command()
@guarded
def download(
    since: Annotated[str, typer.Option(help="ISO date or time of the first candle.")],
    config: ConfigPath = Path("config.yaml"),
    exchange: Annotated[str | None, typer.Option(help="ccxt exchange id (default: exchange.name).")] = None,
    symbol: Annotated[str | None, typer.Option(help="e.g. BTC/USDT (default: the first of symbols).")] = None,
    timeframe: Annotated[str | None, typer.Option(help="e.g. 1h (default: timeframe).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO end, exclusive (default: now).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the range as CSV (.csv or .csv.gz).")] = None,
) -> None:
    """Download closed candles into the database, resumably; optionally to CSV."""
    cfg = load_config(config)
    overrides = {"exchange": {**cfg.exchange.model_dump(), **({"name": exchange} if exchange else {})},
                 "symbols": [symbol] if symbol else cfg.symbols, "timeframe": timeframe or cfg.timeframe}
    try:
        cfg = Config(**{**cfg.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    since_ms, until_ms = _iso_option(since, "--since"), _iso_option(until, "--until") if until else None
    from bot.market.download_command import run_download

    result = run_download(cfg, cfg.symbols[0], since_ms, until_ms, out, err_console)
    err_console.print(
        f"{cfg.symbols[0]} {cfg.timeframe} on {cfg.exchange.name}: {result.stored:,} of {result.expected:,} closed "
        f"candles stored, {result.requests} requests"
        + (f"; {len(result.holes)} holes the exchange does not fill" if result.holes else "; no holes"))
    if out is not None:
        err_console.print(f"written to {out}")


def _iso_option(value: str, name: str) -> int:
    try:
        return parse_iso_ms(value)
    except ValueError:
        raise UserError(f"{name}: '{value}' is not an ISO date like 2024-01-31 or 2024-01-31T12:00") from None


@app.command()
@guarded
def report(
    config: ConfigPath = Path("config.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Summary of the run: return, Sharpe, drawdown, win rate, models."""
    from bot.report.render import summary_table
    from bot.report.summary import build_summary

    cfg = load_config(config)
    store = _open_existing_store(cfg)
    summary = build_summary(store, cfg)
    store.close()
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        console.print(summary_table(summary))


@app.command()
@guarded
def trades(
    config: ConfigPath = Path("config.yaml"),
    csv: Annotated[Path | None, typer.Option(help="Write every fill to this CSV file.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Fills shown on the console.")] = 20,
) -> None:
    """The fills of the run: on the console, or all of them as CSV."""
    from bot.report.render import fills_table
    from bot.store.tables import FillRow

    cfg = load_config(config)
    store = _open_existing_store(cfg)
    fills = store.frame(FillRow, order_by="id")
    store.close()
    if csv is None:
        console.print(fills_table(fills, limit))
        return
    fills.insert(1, "time", [iso_utc(int(t)) for t in fills.ts])
    try:
        fills.to_csv(csv, index=False)
    except OSError as exc:
        raise UserError(f"cannot write {csv}: {exc.strerror}") from None
    err_console.print(f"{len(fills)} fills written to {csv}")


@app.command()
@guarded
def status(config: ConfigPath = Path("config.yaml")) -> None:
    """Where the run stands: last bars, positions, model, recent events."""
    cfg = load_config(config)
    store = _open_existing_store(cfg)
    try:
        console.print(_status_table(cfg, store))
        console.print(_events_table(store))
    finally:
        store.close()


def _status_table(cfg: Config, store) -> Table:
    table = Table(title=f"Status ({cfg.mode}, {cfg.timeframe})", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for symbol in cfg.symbols:
        last = store.last_bar_ts(symbol)
        table.add_row(f"{symbol} last bar", iso_utc(last) if last is not None else "-")
    equity = store.latest_equity()
    if equity is not None:
        table.add_row("Equity / cash", f"{equity.equity:,.2f} / {equity.cash:,.2f}")
    for pos in store.latest_positions():
        if pos.qty > 0:
            stop = f", stop {pos.stop_price:,.2f}" if pos.stop_price else ""
            table.add_row(f"{pos.symbol} position", f"{pos.qty:.6f} @ {pos.avg_entry:,.2f}{stop}")
    champion = store.champion()
    table.add_row("Champion model", champion.version if champion else "none yet")
    counts = store.event_counts()
    quality = ", ".join(f"{label} {counts.get(kind, 0)}" for kind, label in DATA_QUALITY)
    table.add_row("Data quality", quality)
    table.add_row("Events", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none")
    return table


DATA_QUALITY = [("bar_rejected", "rejected bars"), ("bar_conflict", "conflicting duplicates"),
                ("gap_pending", "gaps waited for"), ("gap_unfilled", "gaps unfilled"),
                ("extreme_move", "extreme moves"), ("fetch_failed", "failed fetches")]


def _events_table(store) -> Table:
    table = Table(title="Last events", title_justify="left")
    for column in ("time", "level", "kind", "symbol", "message"):
        table.add_column(column)
    for e in reversed(store.recent_events(10)):
        table.add_row(iso_utc(e.ts), e.level, e.kind, e.symbol or "", e.message)
    return table


def main() -> None:  # pragma: no cover - console entry point
    app()
