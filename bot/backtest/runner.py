"""`bot backtest`: the daemon's own replay, walk-forward, over a CSV, for the
configured model and for each baseline model, plus buy-and-hold and flat.

There is no second loop: every model variant is a replay run through
`open_replay`/`run_replay` (the same engine, scheduler, retrain job, risk
manager and paper broker as `bot run`) in its own state directory. The
variants are independent, so they run in parallel processes; each is
deterministic, so the result does not depend on how many run at once.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bot.backtest.executor import run_tasks
from bot.backtest.model_report import add_model_quality
from bot.backtest.result import BacktestResult, VariantRun
from bot.config import Config
from bot.market.errors import DataFileError
from bot.report.data_quality import data_quality_counts
from bot.store import Store
from bot.timeframes import bars_per_year, iso_utc

PREDICTION_COLUMNS = (
    "ts",
    "symbol",
    "model_version",
    "prob_up",
    "outcome",
    "predicted_return",
    "expected_edge",
    "realized_return",
    "regime",
    "decision",
    "reason",
)
BASELINE_MODELS = ("logistic", "random_forest", "gru", "lightgbm")


@dataclass(frozen=True)
class BacktestSpec:
    data: Path
    symbol: str
    start: str | None
    end: str | None
    out_dir: Path
    workers: int
    # Variants tried in all, for the deflated Sharpe ratio: at least the
    # model variants of this backtest, more when settings were searched.
    trials: int | None = None
    baselines: bool = True  # the baseline models beside the configured one
    executor: str = "local"  # or "ray" (bot/backtest/executor.py)
    address: str | None = None  # an existing Ray cluster's


def variant_config(cfg: Config, spec: BacktestSpec, name: str, kind: str) -> Config:
    """The configured run, pointed at the backtest's data and directory,
    with the given model kind: nothing else changes."""
    directory = spec.out_dir / name
    data = cfg.model_dump()
    data.update(mode="replay", symbols=[spec.symbol])
    data["replay"] = {"data": str(spec.data.resolve()), "start": spec.start, "end": spec.end}
    data["storage"] = {
        "db_url": f"sqlite:///{(directory / 'bot.sqlite').resolve()}",
        "models_dir": str((directory / "models").resolve()),
    }
    data["logging"] = {**data["logging"], "file": str((directory / "bot.jsonl").resolve())}
    # Variants train side by side: never more torch threads than cores.
    threads = min(cfg.model.threads, max(1, (os.cpu_count() or 1) // max(1, spec.workers)))
    data["model"] = {**data["model"], "kind": kind, "threads": threads}
    return Config.exactly(data)  # BOT__ variables were applied once, to cfg; not again over the variant's paths


def run_variant(config_json: str) -> str:
    """One replay to the end, in a worker process; returns its database URL."""
    from rich.console import Console

    from bot.app.fresh_start import wipe_state
    from bot.app.replay import open_replay, run_replay
    from bot.logging_setup import configure_logging

    cfg = Config.exactly(json.loads(config_json))  # the worker inherits the environment too
    configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
    wipe_state(cfg, who="a backtest variant's wipe")
    rt = open_replay(cfg)
    try:
        run_replay(rt, max_bars=None, console=Console(quiet=True), progress=False)
    finally:
        rt.store.close()
    return cfg.db_url


def model_variants(cfg: Config) -> dict[str, str]:
    """Variant name -> model kind: the configured one, then each baseline."""
    return {"strategy": cfg.model.kind, **{k: k for k in BASELINE_MODELS if k != cfg.model.kind}}


def variant_configs(cfg: Config, spec: BacktestSpec) -> dict[str, Config]:
    kinds = model_variants(cfg) if spec.baselines else {"strategy": cfg.model.kind}
    return {name: variant_config(cfg, spec, name, kind) for name, kind in kinds.items()}


def run_backtest(cfg: Config, spec: BacktestSpec, on_done=lambda name: None, leased: bool = False) -> BacktestResult:
    """`leased`: the caller holds variant_leases already (the CLI takes
    them before its progress bar, so that a refusal is its only line)."""
    started = time.perf_counter()
    configs = variant_configs(cfg, spec)
    with nullcontext() if leased else variant_leases(configs):
        urls = _run_all(configs, spec, on_done)
        _refuse_different_bars(urls)
        runs = {name: _collect(name, urls[name]) for name in configs}
        quality = _data_quality(urls["strategy"])  # every variant read the same file
    strategy = runs.pop("strategy")
    traded_from = _traded_from(strategy)
    strategy = _clip(strategy, traded_from)
    baselines = {name: _clip(run, traded_from) for name, run in runs.items()}
    if cfg.model.kind in BASELINE_MODELS:  # the strategy is that baseline already
        baselines[cfg.model.kind] = strategy
    prices = _prices(urls["strategy"], traded_from)
    baselines = {
        "buy_and_hold": _buy_and_hold(prices, strategy.equity, cfg),
        "flat": _flat(strategy.equity, cfg),
        **{k: baselines[k] for k in BASELINE_MODELS if k in baselines},
    }
    data = _data_summary(spec, prices, quality)
    result = BacktestResult(strategy, baselines, prices, _config_summary(cfg, spec), data)
    _add_metrics(result, cfg)
    add_model_quality(result, cfg.timeframe_ms, spec.trials, cfg.seed)
    result.wall_seconds = round(time.perf_counter() - started, 1)
    return result


def variant_leases(configs: dict[str, Config]) -> ExitStack:
    """The writer lease of every variant's database, held from its wipe to
    the last read of its results (LeaseHeld, and nothing touched, when one
    is held). Each variant starts by wiping its directory: a second
    backtest into the same --out-dir wiped and rewrote the first one's
    databases, which then reported the other's run (exit 0 both), and a
    daemon whose database lay there lost its history while it ran on."""
    from bot.writer_lease import take_lease

    leases = ExitStack()
    try:
        for variant in configs.values():
            lease = take_lease(variant.db_url, "bot backtest", int(time.time() * 1000))
            if lease is not None:
                leases.callback(lease.release)
    except BaseException:
        leases.close()
        raise
    return leases


def _run_all(configs: dict[str, Config], spec: BacktestSpec, on_done) -> dict[str, str]:
    payloads = {name: c.model_dump_json() for name, c in configs.items()}
    return run_tasks(run_variant, payloads, spec.workers, lambda name, _url: on_done(name), spec.executor, spec.address)


# -- reading the runs back ------------------------------------------------------


def _collect(name: str, url: str) -> VariantRun:
    store = Store(url)
    try:
        equity = store.equity_frame()
        fills = store.fills_frame()
        predictions = store.predictions_frame()
        orders = store.orders_frame()[["id", "reason"]]
    finally:
        store.close()
    index = pd.Index(equity.ts.astype("int64"), name="ts")
    return VariantRun(
        name,
        pd.Series(equity.equity.to_numpy(), index=index),
        pd.Series(equity.position_value.to_numpy(), index=index),
        fills,
        predictions[list(PREDICTION_COLUMNS)],
        orders=orders,
    )


def _traded_from(run: VariantRun) -> int:
    """Judge from the configured model's first prediction: the slice before
    it was only observed, to train the first model."""
    if run.predictions.empty:
        return int(run.equity.index[0]) if len(run.equity) else 0
    return int(run.predictions.ts.min())


def _clip(run: VariantRun, start: int) -> VariantRun:
    keep = run.equity.index >= start
    return VariantRun(
        run.name,
        run.equity[keep],
        run.position_value[keep],
        run.fills[run.fills.ts >= start],
        run.predictions[run.predictions.ts >= start],
        orders=run.orders,
    )


def _prices(url: str, start: int) -> pd.DataFrame:
    store = Store(url)
    try:
        bars = store.bars_frame()
    finally:
        store.close()
    return bars[bars.ts >= start].reset_index(drop=True)


def _buy_and_hold(prices: pd.DataFrame, like: pd.Series, cfg: Config) -> VariantRun:
    """All cash into the symbol at the first traded close (fee and slippage
    paid once), held to the end. Its curve starts from the cash, as every
    variant's does: from the units bought, its return left out the very
    cost it paid (6.37% reported where its final equity made 6.21%)."""
    close = prices.set_index("ts").close.reindex(like.index).ffill()
    if len(close) < 2:
        # Bought at the only close there is, it is never held: a fee paid
        # with a return of 0% was shown. Nothing to hold is no trade.
        return replace(_flat(like, cfg), name="buy_and_hold")
    first = float(close.iloc[0])
    fee, slip = cfg.paper.fee_bps / 10_000, cfg.paper.slippage_bps / 10_000
    price = first * (1 + slip)
    units = cfg.paper.initial_cash / (price * (1 + fee))
    value = units * close
    value.iloc[0] = cfg.paper.initial_cash
    fills = pd.DataFrame(
        [
            {
                "id": 1,
                "ts": int(close.index[0]),
                "symbol": prices.symbol.iloc[0],
                "side": "buy",
                "qty": units,
                "price": price,
                "fee": units * price * fee,
                "realized_pnl": -units * price * fee,
                "order_id": "buy_and_hold",
            }
        ]
    )
    return VariantRun("buy_and_hold", value.astype(float), value.astype(float), fills, _no_predictions())


def _flat(like: pd.Series, cfg: Config) -> VariantRun:
    equity = pd.Series(cfg.paper.initial_cash, index=like.index, dtype=float)
    empty_fills = pd.DataFrame(
        columns=["id", "ts", "symbol", "side", "qty", "price", "fee", "realized_pnl", "order_id"]
    )
    return VariantRun("flat", equity, equity * 0.0, empty_fills, _no_predictions())


def _no_predictions() -> pd.DataFrame:
    return pd.DataFrame(columns=list(PREDICTION_COLUMNS))


# -- metrics --------------------------------------------------------------------


def _add_metrics(result: BacktestResult, cfg: Config) -> None:
    from bot.report.metrics import calendar_years, trading_report
    from bot.report.prediction_metrics import classification_report, regression_report

    periods = bars_per_year(cfg.timeframe)
    for run in result.variants().values():
        scored = run.predictions.dropna(subset=["outcome"])
        metrics = classification_report(scored.prob_up.to_numpy(float), scored.outcome.to_numpy(float))
        if not cfg.model.is_classifier and scored.predicted_return.notna().any():
            actual = np.log1p(scored.realized_return.to_numpy(float))
            regression = regression_report(scored.predicted_return.to_numpy(float), actual)
            regression["n_regression"] = regression.pop("n")
            metrics.update(regression)
        years = calendar_years(run.equity)  # the equity is indexed by bar time
        metrics.update(trading_report(run.equity, run.position_value, run.fills, periods, years))
        run.metrics = metrics


def _config_summary(cfg: Config, spec: BacktestSpec) -> dict:
    keep = {"timeframe", "seed", "paper", "strategy", "features", "model", "risk", "retrain"}
    return {"data": str(spec.data), **json.loads(cfg.model_dump_json(include=keep))}


def _refuse_different_bars(urls: dict[str, str]) -> None:
    """Every variant replays the data file on its own: one replaced while the
    backtest ran (a `bot download --out` of the same file) gave the later
    variants other bars, and their figures stood beside the strategy's as
    if for the same market and period, exit 0."""
    read = {name: _bars_read(url) for name, url in urls.items()}
    first = read["strategy"]
    other = next((name for name, bars in read.items() if bars != first), None)
    if other is not None:
        raise DataFileError(
            f"the data changed while the backtest ran: the strategy stepped {_said(first)}, "
            f"the {other} variant {_said(read[other])}; run it again once the file stays as it is"
        )


def _bars_read(url: str) -> tuple:
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return tuple(conn.exec_driver_sql("SELECT COUNT(*), MIN(ts), MAX(ts), SUM(close) FROM bars").one())
    finally:
        store.close()


def _said(bars: tuple) -> str:
    count, first, last, _ = bars
    return f"{count:,} bars" + (f" from {iso_utc(first)} to {iso_utc(last)}" if count else "")


def _data_quality(url: str) -> dict[str, int]:
    """What the screen found in the data: a file with a hole or a broken bar
    was backtested without a word of it, its events left in a variant's
    database (deleted with the temporary directory)."""
    store = Store(url)
    try:
        return data_quality_counts(store.event_counts())
    finally:
        store.close()


def _data_summary(spec: BacktestSpec, prices: pd.DataFrame, quality: dict[str, int]) -> dict:
    return {
        "symbol": spec.symbol,
        "from": iso_utc(int(prices.ts.iloc[0])) if len(prices) else None,
        "to": iso_utc(int(prices.ts.iloc[-1])) if len(prices) else None,
        "bars": len(prices),
        "data_quality": quality,
    }
