"""`bot download`: closed candles from an exchange into the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, UserError, err_console, guarded, hold_the_run, start_logging
from bot.cli.output_paths import check_output_path
from bot.config import Config, ConfigError, describe_validation_error, load_config
from bot.file_checks import named_candles
from bot.timeframes import parse_iso_ms, timeframe_ms


@guarded
def download(
    since: Annotated[str, typer.Option(help="ISO date or time of the first candle.")],
    config: ConfigPath = DEFAULT_CONFIG,
    exchange: Annotated[str | None, typer.Option(help="ccxt exchange id (default: exchange.name).")] = None,
    symbol: Annotated[str | None, typer.Option(help="e.g. BTC/USDT (default: the first of symbols).")] = None,
    timeframe: Annotated[str | None, typer.Option(help="e.g. 1h (default: timeframe).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO end, exclusive (default: now).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the range as CSV (.csv or .csv.gz).")] = None,
) -> None:
    """Download closed candles into the database, resumably; optionally to CSV."""
    cfg = load_config(config)
    for option, value in (("--exchange", exchange), ("--symbol", symbol), ("--timeframe", timeframe)):
        if value is not None and not value.strip():  # it fell back to the config's value without a word
            raise ConfigError(f"{option}: empty; give one, or leave the option out for the config's")
    overrides = {
        "exchange": {**cfg.exchange.model_dump(), **({"name": exchange} if exchange else {})},
        "symbols": [symbol] if symbol else cfg.symbols,
        "timeframe": timeframe or cfg.timeframe,
    }
    try:
        cfg = Config.exactly({**cfg.model_dump(), **overrides})  # the options win over BOT__ variables
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    since_ms, until_ms = _iso_option(since, "--since"), _iso_option(until, "--until") if until else None
    if since_ms < 0:  # a negative startTime: refused by exchanges, or answered with their first candles
        raise ConfigError(f"--since: {since} is before 1970-01-01, where candle times start")
    if since_ms >= time.time() * 1000:
        raise ConfigError(f"--since: {since} is in the future; no candle has closed after it yet")
    if until_ms is not None and until_ms <= since_ms:
        raise ConfigError(f"--until: {until} is not after --since {since}: no candle lies between them")
    if out is not None:
        check_output_path(out, "--out", cfg, config, named_as_its_kind=True)
        _refuse_a_name_for_other_candles(out, cfg.symbols[0], cfg.timeframe)
    # It writes the database's candles: one writer per database, so not
    # beside a running daemon (point BOT__STORAGE__DB_URL elsewhere for that).
    lease = hold_the_run(cfg, "bot download")  # noqa: F841 (held until exit)
    start_logging(cfg)
    from bot.app.download import CsvNotWritten, run_download

    try:
        result = run_download(cfg, cfg.symbols[0], since_ms, until_ms, out, err_console)
    except CsvNotWritten as exc:
        raise UserError(str(exc)) from None
    err_console.print(
        f"{cfg.symbols[0]} {cfg.timeframe} on {cfg.exchange.name}: {result.stored:,} of {result.expected:,} closed "
        f"candles stored, {result.requests} requests"
        + (f"; {_holes(len(result.holes))} the exchange does not fill" if result.holes else "; no holes")
    )
    if out is not None:
        err_console.print(f"written to {out}")


def _refuse_a_name_for_other_candles(out: Path, symbol: str, timeframe: str) -> None:
    """A file named like the bundled data says what it holds, and a replay
    believes it: BTC's candles written to ETH_USDT-1h.csv.gz replayed as
    ETH's without a word."""
    named = named_candles(out)
    if named is not None and (named[0] != symbol.upper() or not _same_timeframe(named[1], timeframe)):
        raise ConfigError(
            f"--out: {out.name} is named for {named[0]} {named[1]}, but this download is {symbol} {timeframe}; "
            "name the file for what it holds, or give it a name without a symbol"
        )


def _same_timeframe(named: str, timeframe: str) -> bool:
    """60m is 1h; a name's month (1M), which no run takes, is no timeframe of ours."""
    try:
        return timeframe_ms(named) == timeframe_ms(timeframe)
    except ValueError:
        return False


def _holes(count: int) -> str:
    return "1 hole" if count == 1 else f"{count:,} holes"


def _iso_option(value: str, name: str) -> int:
    try:
        return parse_iso_ms(value)
    except ValueError:
        # Exit 2, as every other option and setting that cannot be used.
        raise ConfigError(f"{name}: '{value}' is not an ISO date like 2024-01-31 or 2024-01-31T12:00") from None
