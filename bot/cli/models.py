"""`bot train` and `bot models`: training on demand, reviewing versions,
promoting one by hand (or rolling back to an earlier one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.brief_text import brief
from bot.cli.common import (
    DEFAULT_CONFIG,
    ConfigPath,
    UserError,
    console,
    err_console,
    guarded,
    hold_the_run,
    open_existing_store,
    start_logging,
)
from bot.config import Config, ConfigError, load_config
from bot.timeframes import iso_utc
from bot.writer_lease import LeaseHeld

models_app = typer.Typer(help="Model versions: list them, or promote one.", no_args_is_help=False)


@guarded
def train(
    config: ConfigPath = DEFAULT_CONFIG,
    progress: Annotated[bool, typer.Option(help="Show the replay progress bar.")] = True,
    request: Annotated[
        bool,
        typer.Option(
            "--request",
            help="Ask the run's daemon to train at its next firing instead "
            "(the way to train while `bot run` holds the run).",
        ),
    ] = False,
) -> None:
    """Train a model now on the run's history and put it through the promotion gate."""
    cfg = load_config(config)
    if request:
        _request_training(cfg)
        return
    from bot.strategy import load_strategy_of

    strategy = load_strategy_of(cfg)
    try:
        lease = hold_the_run(cfg, "bot train")  # noqa: F841 (held until exit)
    except LeaseHeld as exc:
        raise LeaseHeld(f"{exc}; `bot train --request` asks the daemon to train instead") from None
    start_logging(cfg, console_level="WARNING")
    rt = _runtime(cfg, strategy)
    try:
        started = rt.clock.now_ms()
        _observe_enough_history(rt, progress)
        row = rt.retrainer.run(rt.clock.now_ms())
        if row is None:
            raise UserError(_why_no_history(rt, started))
        console.print(models_table([row], title="Trained"))
    finally:
        rt.store.close()


def _request_training(cfg: Config) -> None:
    """An operator request: the daemon trains on its own history, so the
    run keeps one writer (bot/app/operator_requests.py)."""
    from bot.app.operator_requests import request_training

    store = open_existing_store(cfg)
    try:
        request_training(store)
    finally:
        store.close()
    err_console.print(
        "training requested: the run's daemon trains at its next firing (at its start if "
        "stopped); `bot models` shows the new version"
    )


def _runtime(cfg: Config, strategy):
    if cfg.mode == "replay":
        from bot.app.replay import open_replay, resume_clock

        cfg.require_replay_data()
        rt = open_replay(cfg, strategy)
        resume_clock(rt)
        return rt
    from bot.app.runtime import build_runtime
    from bot.clock import SystemClock
    from bot.market.listed_symbols import listed_feed

    feed = listed_feed(cfg, cfg.symbols, cfg.live_history_bars)
    return build_runtime(cfg, clock=SystemClock(), feed=feed, strategy=strategy)


def _why_no_history(rt, since_ms: int) -> str:
    """Too little history, and the newest fetch failure when there was one:
    with the exchange down it said only "too little history". A retrain
    skipped for another reason (every label the same) says that reason."""
    recent = [e for e in rt.store.recent_events(20) if e.ts >= since_ms]
    skipped = [e for e in recent if e.kind == "retrain_skipped"]
    if skipped and "too little history" not in skipped[0].message:
        return f"not trained: {skipped[0].message}; see `bot status`"
    have, need = rt.engine.bars_seen(), rt.config.retrain.initial_train_bars
    said = f"too little history to train ({have:,} bars of the {need:,} a first model needs)"
    failed = [e for e in recent if e.kind == "fetch_failed"]
    if failed:
        said += f"; fetching failed: {failed[0].message}"
    return said + "; see `bot status`"


def _observe_enough_history(rt, progress: bool) -> None:
    """A fresh run first observes the history a first model needs, exactly
    as `bot run` would, with the automatic retrain held back."""
    missing = rt.config.retrain.initial_train_bars - rt.engine.bars_seen()
    if missing <= 0:
        return
    rt.bar_job.run_retrain = lambda now_ms: None
    if rt.config.mode == "replay":
        from bot.app.replay import run_replay

        run_replay(rt, max_bars=missing, console=err_console, progress=progress)
    else:
        rt.bar_job(rt.clock.now_ms())


@models_app.callback(invoke_without_command=True)
@guarded
def models(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Model versions with their training, validation and live metrics."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = load_config(config)
    store = open_existing_store(cfg)
    try:
        versions = store.model_versions()
    finally:
        store.close()
    if not versions:
        err_console.print("no model versions yet")
        return
    console.print(models_table(versions))


@models_app.command("promote")
@guarded
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="The version to make champion.")],
    config: ConfigPath = DEFAULT_CONFIG,
) -> None:
    """Make VERSION the champion: a manual promotion or a rollback."""
    cfg = load_config(_config_of(ctx, config))
    from bot.app.operator_requests import promote_version
    from bot.model.registry import ModelFileError

    store = open_existing_store(cfg)
    try:
        try:
            done = promote_version(store, cfg.path(cfg.storage.models_dir), version, "hand (`bot models promote`)")
        except KeyError:
            raise UserError(f"no model version {brief(version)}; see `bot models`") from None
        except (OSError, ValueError, ModelFileError) as exc:  # its files missing or damaged
            raise UserError(f"{version} cannot be loaded: {exc}") from None
    finally:
        store.close()
    if done.already:
        err_console.print(f"{version} is already the champion; nothing changed")
        return
    err_console.print(f"{version} is the champion" + (f" (was {done.previous})" if done.previous else ""))
    if done.gate_rejected:
        err_console.print(
            f"warning: the promotion gate had rejected {version} (see `bot models`); "
            "a running daemon trades with it from its next bar"
        )


def _config_of(ctx: typer.Context, config: Path) -> Path:
    """-c before the subcommand (`bot models -c X promote V`) is the group's
    option: it names the run as much as one after it, which alone was read,
    so the champion of config.yaml's run changed instead."""
    outer = ctx.parent.params.get("config") if ctx.parent is not None else None
    if outer is None or outer == DEFAULT_CONFIG:
        return config
    if config not in (DEFAULT_CONFIG, outer):
        raise ConfigError(f"--config: given twice, as {outer} and {config}")
    return outer


def _num(value, digits: int = 3) -> str:
    """A stored figure; "-" when there is none, "?" when the stored value
    is not a number (a damaged row failed the whole table)."""
    if value is None:
        return "-"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "?"
    return f"{value:.{digits}f}"


def _gate(metrics: dict) -> str:
    """'first', or the challenger's metric against the champion's, with the
    bootstrap p-value of the improvement where the gate tested it, or why it
    could not (too few independent windows)."""
    if metrics.get("gate_champion") is None:
        return metrics.get("gate_reason", "-").split(" (")[0]
    name = {"auc": "AUC", "log_loss": "loss"}.get(str(metrics.get("gate_metric")), "?")
    shown = f"{name} {_num(metrics.get('gate_challenger'))}/{_num(metrics['gate_champion'])}"
    if metrics.get("gate_p_value") is not None:
        shown += f" p={_num(metrics['gate_p_value'])}"
    elif "too few to tell" in str(metrics.get("gate_reason", "")):
        shown += f" too few windows ({_num(metrics.get('gate_blocks'), 1)} blocks)"
    return shown


def models_table(versions, title: str = "Model versions") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("version", no_wrap=True)
    table.add_column("status")
    for column in (
        "trained to",
        "val AUC",
        "val acc",
        "val edge IC",
        "vol R² (naive)",
        "gate (new/old)",
        "live n",
        "live acc",
        "live AUC",
    ):
        table.add_column(column, justify="right")
    for v in versions:
        m = v.metrics()
        table.add_row(
            v.version,
            f"{v.status} {v.kind}" + (" (stored metrics damaged)" if v.metrics_damaged else ""),
            iso_utc(v.train_to_ts)[:10],
            _num(m.get("val_auc")),
            _num(m.get("val_accuracy")),
            _num(m.get("val_edge_rank_ic")),
            f"{_num(m.get('vol_val_r2'), 2)} ({_num(m.get('vol_val_r2_naive'), 2)})",
            _gate(m),
            str(v.live_n),
            _num(v.live_accuracy),
            _num(v.live_auc),
        )
    return table
