"""`bot backtest` and `bot check-lookahead`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot import json_values
from bot.cli.common import DEFAULT_CONFIG, ConfigPath, UserError, console, err_console, guarded, start_logging
from bot.cli.output_paths import check_out_dir, check_output_path
from bot.config import Config, ConfigError, load_config, symbol_problem
from bot.file_checks import named_for_another_symbol, unreadable_file
from bot.whole_file import write_text_whole
from bot.writable import check_writable_directory, remove_created

if TYPE_CHECKING:
    import pandas as pd

DataPath = Annotated[Path | None, typer.Option("--data", help="CSV in the bundled format (default: replay.data).")]
Symbol = Annotated[
    str | None, typer.Option("--symbol", help="Symbol of the data (default: the first of symbols; needed with --data).")
]
From = Annotated[str | None, typer.Option("--from", help="ISO start of the data to use.")]
To = Annotated[str | None, typer.Option("--to", help="ISO end (exclusive) of the data to use.")]


def _check_dates(cfg: Config, start: str | None, end: str | None, option: str | None = None) -> None:
    """ISO dates, the start before the end (either may come from the config);
    `option` names where both came from when it is one option (--period)."""
    from bot.timeframes import parse_iso_ms

    bounds = {}
    for name, value, default in (("--from", start, cfg.replay.start), ("--to", end, cfg.replay.end)):
        if value is not None:
            try:
                bounds[name] = parse_iso_ms(value)
            except ValueError:
                raise ConfigError(f"{option or name}: '{value}' is not an ISO date like 2023-01-31") from None
        elif default is not None:
            bounds[name] = parse_iso_ms(str(default))
    if len(bounds) == 2 and bounds["--from"] >= bounds["--to"]:
        named = option or ("--from" if start is not None else "--to")
        raise ConfigError(
            f"{named}: the start {start or cfg.replay.start} is not before the end "
            f"{end or cfg.replay.end}: no bar would be tested"
        )


def one_symbol_note(cfg: Config, data: Path | None, symbol: str | None) -> str | None:
    """What a backtest of a several-symbol config without --symbol says:
    it tests the first symbol alone. A two-symbol config was backtested on
    its first symbol without a word of the other."""
    if symbol is not None or data is not None or len(cfg.symbols) < 2:
        return None
    return (
        f"backtesting {cfg.symbols[0]} alone, the first of symbols ({', '.join(cfg.symbols[1:])} not included): "
        "a backtest tests one symbol's file; --symbol picks another"
    )


def _data_and_symbol(cfg: Config, data: Path | None, symbol: str | None) -> tuple[Path, str]:
    """The file to test and the symbol it is of: --data as given, else the
    config's own file for --symbol (the first of symbols by default)."""
    if data is None:
        symbol = symbol or cfg.symbols[0]
        return _replay_data_of(cfg, symbol, "--symbol", "or give its file with --data"), symbol
    if symbol is None:  # the config's symbol would label another market's figures
        raise ConfigError(f"--data: say which symbol {data} holds with --symbol")
    problem = symbol_problem(symbol)
    if problem:
        raise ConfigError(f"--symbol: {problem}")
    problem = unreadable_file(data)
    if problem:
        raise ConfigError(f"--data: {data}: {problem}")
    named = named_for_another_symbol(data, symbol)
    if named is not None:
        raise ConfigError(
            f"--symbol: {symbol}, but the file's name says {named} ({data.name}); "
            "give that --symbol, or rename the file if its name is wrong"
        )
    return data, symbol


def _replay_data_of(cfg: Config, symbol: str, option: str, remedy: str) -> Path:
    """The config's replay file of `symbol`. Only a symbol it trades has one:
    a single replay.data file is the first symbol's, and testing another's
    name on it would label one market's figures with another's."""
    if symbol not in cfg.symbols:
        raise ConfigError(
            f"{option}: {symbol} is not among symbols ({', '.join(cfg.symbols)}), so replay.data has no file "
            f"for it; add it to symbols and replay.data, {remedy}"
        )
    cfg.require_replay_data([symbol])
    return cfg.replay_csv(symbol)


def _check_timeframe(path: Path, cfg: Config) -> pd.DataFrame:
    """The file's bars, once they are known to be of the config's timeframe:
    check-lookahead checked other data and passed it ("no lookahead")."""
    from bot.market.csv_format import read_ohlcv_csv
    from bot.market.replay_feed import check_spacing

    frame = read_ohlcv_csv(path)
    check_spacing(path, frame.timestamp.to_numpy(), cfg.timeframe_ms)
    return frame


def _check_history(
    cfg: Config,
    path: Path,
    symbol: str,
    start: str | None,
    end: str | None,
    given: bool,
    bounds: tuple[str, str] | None = None,
) -> None:
    """The file read as each variant will read it (of the config's timeframe,
    enough bars between the bounds for a first model), but once, before any
    variant starts and in the options' names: a fault was found in every
    variant at once, behind the progress bar, and --from was called
    replay.start. `bounds`: what gave the start and the end, where it was
    not --from and --to (a sweep's --period)."""
    from bot.app.replay import ReplayNames, replay_feed
    from bot.backtest.runner import BacktestSpec, variant_config

    spec = BacktestSpec(path, symbol, start or cfg.replay.start, end or cfg.replay.end, Path("."), 1)
    names = ReplayNames(
        data="--data" if given else "replay.data",
        start=bounds[0] if bounds else "--from" if start is not None else "replay.start",
        end=bounds[1] if bounds else "--to" if end is not None else "replay.end",
    )
    replay_feed(variant_config(cfg, spec, "strategy", cfg.model.kind), names)


Executor = Annotated[
    str, typer.Option(help="Where the runs go: local (processes here) or ray (a local Ray, or --address).")
]


def _check_executor(executor: str, address: str | None) -> None:
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor: '{executor}' is neither local nor ray")
    if address is not None and executor != "ray":
        # It was ignored: the whole backtest ran here, not on the cluster named.
        raise ConfigError(f"--address: a Ray cluster is used with --executor ray, not {executor}")


RayAddress = Annotated[
    str | None, typer.Option("--address", help="An existing Ray cluster to run on (e.g. ray://head:10001).")
]


@guarded
def backtest(
    config: ConfigPath = DEFAULT_CONFIG,
    data: DataPath = None,
    symbol: Symbol = None,
    start: From = None,
    end: To = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every metric as JSON.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Variants run in parallel processes.")] = min(
        4, os.cpu_count() or 1
    ),
    out_dir: Annotated[Path | None, typer.Option(help="Keep each variant's database and models here.")] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Variants tried in all (settings searched included), for the deflated Sharpe ratio; "
            "default: the model variants of this backtest.",
        ),
    ] = None,
    baselines: Annotated[bool, typer.Option(help="Run the baseline models beside the configured one.")] = True,
    executor: Executor = "local",
    address: RayAddress = None,
) -> None:
    """Walk-forward backtest through the daemon's own engine, with baselines."""
    cfg = load_config(config)
    from bot.backtest.runner import BacktestSpec, model_variants, run_backtest, variant_configs, variant_leases
    from bot.strategy import load_strategy_of

    load_strategy_of(cfg)  # refuse a broken strategy before any work
    _check_executor(executor, address)
    note = one_symbol_note(cfg, data, symbol)
    path, symbol = _data_and_symbol(cfg, data, symbol)
    _check_dates(cfg, start, end)
    for option, out, other in (("--json", json_out, html_out), ("--html", html_out, None)):
        if out is not None:
            inputs = {path: "the data it reads"} | ({other: "the --html file as well"} if other is not None else {})
            check_output_path(out, option, cfg, config, inputs=inputs)
    variants = len(model_variants(cfg)) if baselines else 1
    if trials is not None and trials < variants:
        # The deflated Sharpe ratio counts at least what this backtest tries.
        raise ConfigError(f"--trials: {trials} is fewer than the {variants} model variants this backtest runs")
    if out_dir is not None:
        check_out_dir(out_dir, cfg, config, list(model_variants(cfg)) if baselines else ["strategy"])
    _check_history(cfg, path, symbol, start, end, data is not None)
    if note:
        err_console.print(note, markup=False)
    if out_dir is not None:  # created last: a backtest refused above leaves no empty directory
        check_writable_directory(out_dir, "--out-dir")
    start_logging(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        # Without --from/--to the config's replay bounds apply.
        spec = BacktestSpec(
            path, symbol, start or cfg.replay.start, end or cfg.replay.end, out_dir or Path(tmp), workers, trials,
            baselines, executor, address,
        )  # fmt: skip
        with (
            variant_leases(variant_configs(cfg, spec)),
            Progress(
                TextColumn("[bold]backtest"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("variants"),
                TimeElapsedColumn(),
                console=err_console,
            ) as progress,
        ):
            task = progress.add_task("variants", total=variants)
            result = run_backtest(cfg, spec, on_done=lambda name: progress.advance(task), leased=True)
    console.print(backtest_table(result))
    from bot.report.data_quality import data_quality_note

    note = data_quality_note(result.data.get("data_quality") or {})
    if note:
        console.print(note, markup=False)
    for names in result.same_trades():
        console.print(
            f"{_listed(names)} made the very same fills: their trading figures do not tell those models apart "
            "(their model-quality figures below do).",
            markup=False,
        )
    console.print(quality_table(result))
    if json_out is not None:
        write_text_whole(json_out, json_values.dumps(result.to_json(), indent=2) + "\n")
        err_console.print(f"metrics written to {json_out}")
    if html_out is not None:
        from bot.backtest.html_report import write_html_report

        write_html_report(result, html_out)
        err_console.print(f"report written to {html_out}")


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


COLUMNS = [
    ("accuracy", "acc", "num"),
    ("roc_auc", "AUC", "num"),
    ("total_return", "return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "max DD", "pct"),
    ("win_rate", "win", "pct"),
    ("profit_factor", "PF", "num"),
    ("trades", "trades", "int"),
    ("exposure", "exposure", "pct"),
    ("fees_paid", "fees", "money"),
    ("psr", "PSR", "num"),
]


QUALITY_COLUMNS = [
    ("ic", "IC", "num"),
    ("rank_ic", "rank IC", "num"),
    ("accuracy_decile", "acc top 10%", "pct"),
    ("hit_rate_decile", "hit top 10%", "pct"),
    ("accuracy_quintile", "acc top 20%", "pct"),
    ("hit_rate_quintile", "hit top 20%", "pct"),
    ("ece_median", "ECE", "num"),
    ("timing_p_value", "timing p", "num"),
    ("dsr", "DSR", "num"),
]


def _cell(value, kind: str) -> str:
    if value is None:
        return "-"
    return {"pct": f"{value * 100:.1f}%", "int": f"{value:,}", "money": f"{value:,.0f}"}.get(kind, f"{value:.3f}")


def backtest_table(result) -> Table:
    from bot.backtest.short_window import short_window_note
    from bot.report.metrics import traded_span_ms

    d = result.data
    table = Table(
        title=f"Walk-forward backtest {d['symbol']} {d['from']} .. {d['to']} ({d['bars']:,} traded bars, "
        f"{result.wall_seconds:.0f} s)",
        title_justify="left",
    )
    table.add_column("variant", no_wrap=True)
    for _, label, _ in COLUMNS:
        table.add_column(label, justify="right")
    for name, run in result.variants().items():
        table.add_row(name, *(_cell(run.metrics.get(key), kind) for key, _, kind in COLUMNS))
    trades = result.strategy.metrics.get("trades")
    note = short_window_note(d["bars"], result.config.get("timeframe"), trades, traded_span_ms(result.strategy.equity))
    if note is not None:
        table.caption, table.caption_justify = note, "left"
    return table


def quality_table(result) -> Table:
    """Model quality per model variant: does the edge rank returns, are the
    confident calls right, calibration, timing against random entries,
    and the Sharpe deflated by the number of variants tried."""
    from bot.backtest.model_report import HIT_RATE_IS_ACCURACY, hit_rate_is_accuracy

    models = {name: run for name, run in result.variants().items() if "ic" in run.metrics}
    trials = next((run.metrics.get("dsr_trials") for run in models.values()), None)
    table = Table(
        title=f"Model quality, out of sample (DSR for {trials} trials; timing p: entries against "
        "random ones with the same holding times)",
        title_justify="left",
    )
    table.add_column("variant", no_wrap=True)
    for _, label, _ in QUALITY_COLUMNS:
        table.add_column(label, justify="right")
    for name, run in models.items():
        table.add_row(name, *(_cell(run.metrics.get(key), kind) for key, _, kind in QUALITY_COLUMNS))
    if hit_rate_is_accuracy([run.metrics for run in models.values()]):
        table.caption, table.caption_justify = HIT_RATE_IS_ACCURACY, "left"
    return table


@guarded
def check_lookahead(
    config: ConfigPath = DEFAULT_CONFIG,
    data: DataPath = None,
    symbol: Symbol = None,
    start: From = None,
    end: To = None,
    cuts: Annotated[int, typer.Option(min=2, help="Cut points to compare.")] = 40,
) -> None:
    """Prove that features, indicators, predictions and signals never read a later bar."""
    cfg = load_config(config)
    from bot.backtest.lookahead import check_lookahead as check
    from bot.strategy import load_strategy_of

    strategy = load_strategy_of(cfg)
    path, _ = _data_and_symbol(cfg, data, symbol)
    _check_dates(cfg, start, end)
    start_logging(cfg)
    bars = _slice(_check_timeframe(path, cfg), start or cfg.replay.start, end or cfg.replay.end)
    try:
        report = check(cfg, bars, strategy, cuts)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if report.leak is not None:
        err_console.print(f"lookahead found: {report.leak.describe()}")
        raise typer.Exit(1)
    err_console.print(
        f"no lookahead: {report.columns} columns identical at {report.cuts} cut points "
        f"(features, strategy indicators, predictions, signals)"
    )


def _slice(bars, start: str | None, end: str | None):
    from bot.timeframes import parse_iso_ms

    if start:
        bars = bars[bars.timestamp >= parse_iso_ms(start)]
    if end:
        bars = bars[bars.timestamp < parse_iso_ms(end)]
    return bars.reset_index(drop=True)


@guarded
def sweep(
    config: ConfigPath = DEFAULT_CONFIG,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE or KEY=[V1,V2,...], e.g. model.hidden_size=[32,64]; repeatable."),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols, each from its replay.data (default: symbols).")
    ] = None,
    periods: Annotated[
        list[str] | None, typer.Option("--period", help="FROM..TO in ISO dates; repeatable (default: replay's).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Cells, results.json and sweep.html go here.")] = Path("sweep"),
    workers: Annotated[int, typer.Option(min=1, help="Cells run at once.")] = min(4, os.cpu_count() or 1),
    executor: Executor = "ray",
    address: RayAddress = None,
) -> None:
    """A grid of walk-forward backtests of the strategy (settings x symbols x
    periods) on Ray; finished cells are cached, so an interrupted sweep
    resumes where it stopped."""
    from bot.backtest.sweep import Cell, apply, grid, parse_override, refuse_twice, run_sweep, write_results
    from bot.strategy.loader import load_strategy_of

    cfg = load_config(config)
    _check_executor(executor, address)
    overrides = [parse_override(text) for text in settings or []]
    refuse_twice("--set", [key for key, _ in overrides])
    for setting in grid(overrides):
        load_strategy_of(apply(cfg, setting))  # every value checked now, not when its cell's turn comes
    chosen = _sweep_symbols(symbols, cfg)
    bounds = [_period(text) for text in periods] if periods else [(cfg.replay.start, cfg.replay.end)]
    refuse_twice("--period", [f"{start}..{end}" for start, end in bounds])
    for symbol in chosen:
        _replay_data_of(cfg, symbol, "--symbols", "or leave it out")
    for start, end in bounds:
        _check_dates(cfg, start, end, option="--period")
    cells = [
        Cell(setting, symbol, cfg.replay_csv(symbol), start, end)
        for setting in grid(overrides)
        for symbol in chosen
        for start, end in bounds
    ]
    _check_cells_history(cfg, cells, ("--period", "--period") if periods else ("replay.start", "replay.end"))
    created = check_writable_directory(out_dir, "--out")
    try:
        for name in ("results.json", "sweep.html"):  # written whole through a link: never onto the run's own files
            check_output_path(out_dir / name, "--out", cfg, config, kinds=(Path(name).suffix,))
    except ConfigError:
        remove_created(created)
        raise
    start_logging(cfg)
    err_console.print(f"{len(cells)} cells on {executor}" + (f" at {address}" if address else ""), markup=False)
    outcome = run_sweep(
        cfg, cells, out_dir, workers, executor, address,
        on_done=lambda cell: err_console.print(f"done: {cell.label}", markup=False),
    )  # fmt: skip
    json_path, html_path = write_results(outcome, out_dir)
    console.print(sweep_table(outcome.results))
    err_console.print(
        f"{outcome.ran} cells run, {outcome.cached} found finished; {json_path} and {html_path} written",
        markup=False,
    )


def _check_cells_history(cfg: Config, cells: list, bounds: tuple[str, str]) -> None:
    """Enough bars for a first model in every cell, as `bot backtest` checks,
    before Ray starts: found in a cell, it came as a Ray traceback. Once per
    file, period, timeframe and first-model length (a file read costs a
    few tenths of a second; a grid may hold thousands of cells)."""
    from bot.backtest.sweep import apply

    checked = set()
    for cell in cells:
        cell_cfg = apply(cfg, cell.overrides)
        what = (cell.data, cell.symbol, cell.start, cell.end, cell_cfg.timeframe, cell_cfg.retrain.initial_train_bars)
        if what not in checked:
            _check_history(cell_cfg, cell.data, cell.symbol, cell.start, cell.end, False, bounds)
            checked.add(what)


def _sweep_symbols(text: str | None, cfg: Config) -> list[str]:
    """--symbols' names; an empty one (`--symbols ,`) is refused, not looked up."""
    from bot.backtest.sweep import refuse_twice

    if text is None:
        return cfg.symbols
    chosen = [s.strip() for s in text.split(",")]
    if not all(chosen):
        raise ConfigError(f"--symbols: '{text}' holds an empty name; give symbols separated by commas")
    refuse_twice("--symbols", chosen)
    return chosen


def _period(text: str) -> tuple[str | None, str | None]:
    start, sep, end = text.partition("..")
    if not sep:
        raise ConfigError(f"--period: '{text}' is not FROM..TO (ISO dates; either side may be empty)")
    return start or None, end or None


def sweep_table(results: list[dict]) -> Table:
    table = Table(title=f"Sweep ({len(results)} cells)", title_justify="left")
    for name in ("setting", "symbol", "period", "return", "B&H", "Sharpe", "B&H Sharpe", "max DD", "trades", "DSR"):
        table.add_column(name, justify="left" if name in ("setting", "symbol", "period") else "right")
    for r in results:
        m = r["metrics"]
        setting = " ".join(f"{k}={json.dumps(v)}" for k, v in r["overrides"].items()) or "as configured"
        table.add_row(
            setting,
            r["symbol"],
            f"{r['start'] or '..'}..{r['end'] or '..'}",
            *(_cell(m.get(k), kind) for k, kind in (("total_return", "pct"), ("buy_and_hold_total_return", "pct"),
                                                    ("sharpe", "num"), ("buy_and_hold_sharpe", "num"),
                                                    ("max_drawdown", "pct"), ("trades", "int"), ("dsr", "num"))),
        )  # fmt: skip
    return table
