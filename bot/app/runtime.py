"""Builds a run from its config: store, strategy, ledger, broker, engine,
model registry and jobs, restored from the database when it already holds
a run. The edges (clock, market data) are passed in by the caller: replay
and live differ only there."""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.broker_factory import make_broker
from bot.app.changed_settings import DECISION_SETTINGS_KEY, changed_settings
from bot.app.daily_summary import DailySummary
from bot.app.fresh_start import remove_sqlite_file
from bot.app.jobs import BarJob, RetryPolicy
from bot.app.notify import Notifier, urls_from_env
from bot.app.restore import restore_features, restore_ledger, restore_live_score, restore_open_orders
from bot.app.retrain import Retrainer
from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.engine import Engine
from bot.market.screening import BarScreen
from bot.model.device import check_device
from bot.model.registry import ModelRegistry
from bot.model.targets import Target
from bot.ports import MarketData
from bot.risk import RiskManager
from bot.risk.state import RiskState
from bot.store import Store, sqlite_path
from bot.store.integrity import (
    RUN_ID_KEY,
    check_existing_database,
    foreign_models,
    own_models_dir,
    verify_run_identity,
)
from bot.strategy import Strategy, load_strategy_of
from bot.writable import check_writable_directory


@dataclass
class Runtime:
    config: Config
    store: Store
    engine: Engine
    registry: ModelRegistry
    retrainer: Retrainer
    bar_job: BarJob
    feed: MarketData
    clock: Clock
    resumed_bars: int
    notifier: Notifier | None = None

    def close(self) -> None:
        """The end of a run: queued notifications get their moment, then the store closes."""
        try:
            if self.notifier is not None:
                self.notifier.close(self.config.notify.drain_seconds)
        finally:
            self.store.close()


def open_store_file(config: Config) -> Store:
    """The store at storage.db_url, creating a SQLite file's directory;
    refused when its tables are of a schema this version cannot write
    (`bot download` wrote candles into a newer run's database)."""
    db = sqlite_path(config.db_url)
    if db is not None:
        check_existing_database(db, config.path(config.storage.models_dir))
        check_writable_directory(db.parent, "storage.db_url")
    grouped = config.storage.replay_commit_steps if config.mode == "replay" else 1
    store = Store(config.db_url, group_steps=grouped)
    problem = store.schema_problem()
    if problem is not None:
        store.close()
        raise ConfigError(f"storage.db_url: {config.db_shown}: {problem}")
    return store


def open_store(config: Config) -> Store:
    """The store of a run, refusing one written under other decision settings."""
    store = open_store_file(config)
    recorded = store.get_meta("config_hash")
    if recorded is None:
        store.set_meta("config_hash", config.decision_hash())
        store.set_meta(DECISION_SETTINGS_KEY, config.decision_json())
        store.set_meta("mode", config.mode)
    elif recorded != config.decision_hash():
        changed = changed_settings(store.get_meta(DECISION_SETTINGS_KEY), config.decision_json())
        models_dir = config.path(config.storage.models_dir)
        listed = {v.version for v in store.model_versions()}
        foreign = foreign_models(models_dir, store.get_meta(RUN_ID_KEY), listed)
        store.close()
        advice = (  # --fresh refuses models not provably this run's
            "use `bot run --fresh` to start over or point storage.db_url elsewhere"
            if foreign is None
            else f"point storage.db_url elsewhere, and {own_models_dir(models_dir)}"
        )
        raise ConfigError(f"storage.db_url: {config.db_shown} holds a run made with other settings{changed}; {advice}")
    return store


def history_capacity(config: Config) -> int:
    """Feature vectors kept per symbol: the rolling training window, or all
    of them for an expanding window (10 years of 1-minute bars, at most)."""
    if config.retrain.window == "expanding":
        return 5_300_000
    return max(config.retrain.train_window_bars, config.model.seq_len)


def live_max_bar_age(config: Config) -> float | None:
    """Live mode never trades on an old bar: after downtime the backfilled
    bars rebuild features and marks, and only fresh ones are traded on. Two
    bars (a minute at least), plus the bar delay, unless the config says."""
    if config.mode == "replay":
        return None
    return max(2 * config.timeframe_ms / 1000, 60.0) + config.schedule.bar_delay_seconds


# Live: three closed bars missing is past the late retries and the gap
# retries of an ordinary delay, and soon enough for an operator to act.
STALL_BARS = 3


def retry_policy(config: Config) -> RetryPolicy:
    """Live data deserves second chances; a replayed CSV is the whole truth."""
    if config.mode == "replay":
        return RetryPolicy()
    return RetryPolicy(
        gap_retries=config.market.gap_retries,
        late_retries=config.schedule.late_retries,
        late_retry_ms=round(config.schedule.late_retry_seconds * 1000),
        hold_extremes=True,
        stall_bars=STALL_BARS,
    )


def build_runtime(config: Config, *, clock: Clock, feed: MarketData, strategy: Strategy | None = None) -> Runtime:
    check_device(config.model.device)  # refuse an impossible device before any work
    urls = urls_from_env()  # and notification URLs apprise cannot use
    strategy = strategy or load_strategy_of(config)
    db = sqlite_path(config.db_url)
    made_here = db if db is not None and not db.exists() else None
    store = open_store(config)  # first: a damaged database is refused before anything is created
    try:
        check_writable_directory(config.path(config.storage.models_dir), "storage.models_dir")
        verify_run_identity(store, config.path(config.storage.models_dir))
    except ConfigError:
        store.close()
        if made_here is not None:  # a refused start leaves no database to hold the next one to its settings
            remove_sqlite_file(made_here)
        raise
    broker = make_broker(config, store, getattr(feed, "quiet", None))  # one exchange, one quiet
    restore_open_orders(store, broker)
    risk = RiskManager(
        config.risk,
        config.paper,
        config.timeframe,
        RiskState.from_json(store.get_meta("risk_state")),
        default_max_bar_age_s=live_max_bar_age(config),
    )
    engine = Engine(
        symbols=config.symbols,
        store=store,
        broker=broker,
        risk=risk,
        strategy=strategy,
        ledger=restore_ledger(store, config.paper.initial_cash, config.paper.allow_short),
        clock=clock,
        seq_len=config.model.seq_len,
        warmup_bars=config.features.warmup_bars,
        history_bars=history_capacity(config),
        timeframe_ms=config.timeframe_ms,
        target=Target.of(config),
        # Per-bar log lines cost a replay a tenth of its time; its bars are in
        # the database. DEBUG brings them back.
        bar_lines=config.mode == "live" or config.logging.level == "DEBUG",
    )
    screen = BarScreen(config.timeframe_ms, config.market.extreme_move_sigmas)
    resumed = restore_features(store, engine, screen, config.symbols)
    latest = store.latest_equity()
    engine.last_step_ts = latest.ts if latest is not None else None
    _refuse_equity_past_bars(store, engine.last_step_ts)
    restore_live_score(store, engine)
    registry = ModelRegistry(store, config.path(config.storage.models_dir))
    champion = registry.load_champion()
    if champion is not None:
        engine.set_predictor(champion)
    retrainer = Retrainer(config, engine, engine, registry)
    n = config.notify
    notifier = Notifier(urls, n.events, n.timeout_seconds, n.retries) if urls else None
    if notifier is not None:
        engine.event_sink = notifier.offer
        engine.fill_sink = notifier.offer_fill
        retrainer.notify = notifier.offer
    bar_job = BarJob(
        feed=feed,
        engine=engine,
        store=store,
        retrainer=retrainer,
        timeframe_ms=config.timeframe_ms,
        symbols=config.symbols,
        screen=screen,
        policy=retry_policy(config),
        notify=notifier.offer if notifier else None,
    )
    daily = n.daily_summary if n.daily_summary is not None else config.mode != "replay"
    if notifier is not None and daily:
        bar_job.after_step = DailySummary(store, config.timeframe_ms, notifier.offer).after_step
    return Runtime(config, store, engine, registry, retrainer, bar_job, feed, clock, resumed, notifier)


def _refuse_equity_past_bars(store: Store, equity_ts: int | None) -> None:
    """The bot writes an equity row with the bars of its step, never ahead
    of them. One past the newest bar was written by something else; resumed
    from, it would set the cash and make every step up to it "late" (no
    equity row of its own), so the run would trade on a made-up account."""
    if equity_ts is None:
        return
    newest_bar = store.newest_bar_ts()
    if newest_bar is None or equity_ts > newest_bar:
        from bot.timeframes import iso_utc

        bars = f"the newest stored bar is at {iso_utc(newest_bar)}" if newest_bar is not None else "no bar is stored"
        raise ConfigError(
            f"storage.db_url: the run's equity has a row at {iso_utc(equity_ts)}, but {bars}: something other "
            "than this bot wrote it; restore the database from a backup, "
            "or start over on purpose with `bot run --fresh`"
        )
