"""Wiring of `bot download`: exchange, store, progress bar, CSV output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.app.runtime import open_store_file
from bot.clock import SystemClock
from bot.config import Config
from bot.market.csv_format import COLUMNS
from bot.market.download import DownloadResult, HistoryDownload, closed_grid
from bot.market.listed_symbols import listed_feed
from bot.store import Store
from bot.whole_file import write_whole


class CsvNotWritten(Exception):
    """--out could not be written; the download itself is stored."""


def run_download(
    cfg: Config, symbol: str, since_ms: int, until_ms: int | None, out: Path | None, console: Console
) -> DownloadResult:
    now = SystemClock().now_ms()
    until = until_ms if until_ms is not None else now + cfg.timeframe_ms
    feed = listed_feed(cfg, [symbol], 0)  # before the database: a typo makes no state
    store = open_store_file(cfg)
    try:
        job = HistoryDownload(feed, store, cfg.exchange.name, symbol, cfg.timeframe)
        total = len(closed_grid(since_ms, until, now, cfg.timeframe_ms))
        with Progress(
            TextColumn(f"[bold]{escape(symbol)} {escape(cfg.timeframe)}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("download", total=total)
            result = job.run(since_ms, until, now, lambda n: progress.update(task, advance=n))
        if out is not None:
            try:
                write_csv(store, cfg, symbol, since_ms, until, out)
            except OSError as exc:
                raise CsvNotWritten(
                    f"--out: cannot write {out} ({exc.strerror or type(exc).__name__}); the candles are stored in "
                    "the database, and a file that was there is as it was"
                ) from None
        return result
    finally:
        store.close()


def write_csv(store: Store, cfg: Config, symbol: str, since_ms: int, until_ms: int, out: Path) -> None:
    """The bundled format: timestamp (ms, bar open), open, high, low, close, volume."""
    bars = store.candles(cfg.exchange.name, symbol, cfg.timeframe, since_ms, until_ms)
    if not bars:  # a header alone: a file that replays nothing, or someone's good file replaced by one
        raise CsvNotWritten(
            f"--out: no closed {symbol} {cfg.timeframe} candle lies in that range (before the market was listed, "
            f"or not closed yet); {out} not written"
        )
    frame = pd.DataFrame([(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars], columns=COLUMNS)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_whole(out, lambda temporary: frame.to_csv(temporary, index=False))  # gzip when the name ends in .gz
