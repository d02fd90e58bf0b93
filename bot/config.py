"""The bot's configuration: config.yaml validated by pydantic, with
environment overrides of the form BOT__SECTION__KEY=value.

Every section forbids unknown keys, because a misspelt risk limit that is
silently ignored is worse than a refusal to start. Relative paths are
resolved against the directory of the config file, so `bot run -c
/somewhere/config.yaml` behaves the same from any working directory.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
from contextvars import ContextVar
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from bot.dotted_keys import dotted
from bot.error_text import first_line
from bot.event_kinds import NOTIFY_NAMES, unknown_name
from bot.features.spec import FEATURE_NAMES, FIRST_DEFINED_INDEX
from bot.file_checks import named_for_another_symbol, unreadable_file
from bot.run_names import run_schema, run_url
from bot.timeframes import parse_iso_ms, timeframe_ms

ENV_PREFIX = "BOT__"
# Seeds reach numpy, torch and scikit-learn, which take 0 .. 2**32 - 1: a
# negative or larger one was accepted and failed at the first challenger.
SEED_MAX = 2**32 - 1


class ConfigError(Exception):
    """A config that must not be run; the message names the offending field."""


def refuse_a_bool_for_a_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """YAML's true and false are not numbers: `fee_bps: true` is a slip, and
    pydantic would read it as 1."""
    if isinstance(value, bool) and info.field_name and wants_a_number(model.model_fields[info.field_name].annotation):
        raise ValueError("a number is needed, not true or false")
    return value


def wants_a_number(annotation: Any) -> bool:
    """A field typed int or float (optional or not), and not bool."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return bool not in options and any(option in (int, float) for option in options)


class Section(BaseModel):
    # Finite numbers only: an infinite cash or stop is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_a_bool_for_a_number(cls, value, info)


class ExchangeConfig(Section):
    name: str = "binance"
    sandbox: bool = False
    # Replaces ccxt's urls['api'] as a whole: for a proxy or a local server.
    urls: dict[str, Any] | None = None
    # Merged into ccxt's exchange options, e.g. {fetchMarkets: {types: [spot]}}.
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(10_000, ge=100, le=600_000)

    @field_validator("urls")
    @classmethod
    def _web_addresses(cls, urls: dict[str, Any] | None) -> dict[str, Any] | None:
        """Each address an http(s) one: ccxt asked `ftp://x` at every firing,
        and the daemon ran on, blind, with an error event each time."""
        leaves = dotted(urls or {})
        if urls is not None and not leaves:  # {} replaced every address with none
            raise ValueError("empty; leave it out to use ccxt's own addresses")
        for name, value in leaves.items():
            parts = urlsplit(value) if isinstance(value, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                # A proxy's user:token@ is not echoed to the console or the journal.
                shown = re.sub(r"//[^/@]*@", "//***@", str(value))[:60]
                raise ValueError(f"{name}: {shown!r} is not an http(s) address with a host")
        return urls


class ReplayConfig(Section):
    # One CSV for a single symbol, or a mapping symbol -> CSV.
    data: str | dict[str, str] = "data/BTC_USDT-1h.csv.gz"
    start: str | None = Field(None, description="ISO date: ignore bars before it")
    end: str | None = Field(None, description="ISO date: ignore bars from it on")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _yaml_date(cls, value):
        """YAML reads an unquoted 2023-01-31 as a date: take it as meant."""
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value

    @field_validator("start", "end")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_iso_ms(value)
            except ValueError:
                raise ValueError(f"'{value}' is not an ISO date like 2023-01-31 or 2023-01-31T12:00") from None
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> ReplayConfig:
        if self.start and self.end and parse_iso_ms(self.start) >= parse_iso_ms(self.end):
            raise ValueError(f"start {self.start} is not before end {self.end}: no bar would be replayed")
        return self

    @property
    def start_ms(self) -> int | None:
        return parse_iso_ms(self.start) if self.start else None

    @property
    def end_ms(self) -> int | None:
        return parse_iso_ms(self.end) if self.end else None


class PaperConfig(Section):
    """The local fill simulator."""

    # Bounded: 1e308 overflowed the report's sums into numpy warnings and
    # 40-digit fee figures; a trillion leaves room for any paper account.
    initial_cash: float = Field(10_000.0, gt=0, le=1e12)
    fee_bps: float = Field(10.0, ge=0, lt=10_000)  # taker: market and triggered stop orders
    maker_fee_bps: float = Field(10.0, ge=0, lt=10_000)  # resting limit orders (take-profit)
    slippage_bps: float = Field(5.0, ge=0, le=5_000)  # at most half the price (bot/risk/costs.py)
    # Extra slippage per unit of recent volatility (the per-bar standard
    # deviation of returns when the order is made), in bps per bps.
    slippage_volatility_factor: float = Field(0.0, ge=0, le=100)
    # Fill at most this share of a bar's volume; the rest waits for later bars.
    max_volume_share: float | None = Field(None, gt=0, le=1)
    latency_bars: int = Field(0, ge=0, le=100)  # extra bars before a market order fills
    allow_short: bool = False  # spot by default


class StorageConfig(Section):
    db_url: str = "sqlite:///state/bot.sqlite"
    models_dir: str = "state/models"
    # Bar steps per transaction in a replay or backtest: a replay resumes
    # from its last committed step and is deterministic, so a crash only
    # costs steps done again the same way. Live mode commits every step.
    replay_commit_steps: int = Field(default=100, ge=1, le=100_000)
    # The run's name: several daemons share one PostgreSQL database, each in
    # a schema of its own (run_<name>; "main" is the database's public
    # schema). A SQLite file holds one run: give each its own file.
    run: str = Field("main", pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @field_validator("db_url")
    @classmethod
    def _a_sqlite_file_or_postgresql(cls, url: str) -> str:
        # The message names the scheme and never echoes the URL, which may
        # carry a password.
        if url.startswith(POSTGRES_SCHEMES) and len(url.split("/")) >= 4 and url.split("/")[-1]:
            run_schema(url)  # a search_path of its own: only a run's schema
            return url
        if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
            scheme = url.split("://", 1)[0] if "://" in url else "unparsable"
            raise ValueError(
                "a SQLite file (sqlite:///path/to/bot.sqlite) or a PostgreSQL database "
                f"(postgresql://user@host:port/database) is needed (got a {scheme[:20]!r} URL)"
            )
        if "?" in url:
            # The bot opens the file with its own sqlite3 connections, which
            # no URL option reaches: ?mode=ro printed SQLAlchemy's warning and
            # the run wrote anyway, to a file with the query in its name.
            options = sorted(parse_qs(url.split("?", 1)[1], keep_blank_values=True)) or ["?"]
            raise ValueError(f"a SQLite URL takes no options (got {options[0][:20]!r}); give the file's path only")
        return url

    @field_validator("run")
    @classmethod
    def _runs_share_only_a_server_database(cls, run: str, info: ValidationInfo) -> str:
        if run != "main" and str(info.data.get("db_url", "")).startswith("sqlite"):
            raise ValueError("several runs share a PostgreSQL database only; give each SQLite run its own file")
        return run


POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://")


class StrategyConfig(Section):
    name: str = "threshold"
    path: str = "strategies"
    params: dict[str, Any] = Field(default_factory=dict)


class FeaturesConfig(Section):
    # Bars after the first defined feature vector before the model may use
    # it: EMA-based features need time to forget their seed value.
    warmup_bars: int = Field(100, ge=0)


class ModelConfig(Section):
    # lstm is the product; gru, logistic and random_forest are baselines
    # behind the same interface (the last two see the newest feature vector).
    kind: Literal["lstm", "gru", "logistic", "random_forest", "lightgbm"] = "lstm"
    # What the model learns (bot/model/targets.py):
    #   horizon: the log return over the next horizon_bars bars, its sign
    #     (head: classification, P(up)) or its size (head: regression);
    #   triple_barrier: whether a long entered at the next open would reach
    #     risk.take_profit_pct before risk.stop_loss_pct and before
    #     horizon_bars bars pass: P(take-profit first), or with the regression
    #     head the log return that trade would make.
    # direction and return are the old names of horizon with the
    # classification and the regression head.
    target: Literal["horizon", "triple_barrier", "direction", "return"] = "horizon"
    head: Literal["classification", "regression"] = "classification"
    horizon_bars: int = Field(1, ge=1, le=2000)
    features: list[str] = Field(default_factory=lambda: list(FEATURE_NAMES), min_length=1)
    seq_len: int = Field(48, ge=2, le=1024)
    hidden_size: int = Field(32, ge=1, le=4096)
    num_layers: int = Field(1, ge=1, le=8)
    dropout: float = Field(0.0, ge=0, lt=1)
    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(0.003, gt=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(2, ge=1)
    val_fraction: float = Field(0.2, gt=0, lt=0.9)
    # Calibration of the probabilities on the validation slice (and again at
    # every recalibration): temperature fits the confidence only, platt the
    # base rate too, auto picks whichever the slice's own halves favour
    # (bot/model/calibration.py).
    calibrate: bool = False
    calibration: Literal["auto", "temperature", "platt"] = "auto"
    # Train on each market and its mirror image (every return negated,
    # bot/model/mirror.py): the model learns shapes, not the training
    # year's drift.
    mirror: bool = False
    # How features are standardised when one model trains on several
    # symbols: `pooled`, one scaler over all their rows; `per_symbol`, each
    # symbol by its own training rows, so a calm and a wild market both
    # reach the net on the same footing. per_symbol read SOL better than
    # pooled and ETH as well (docs/research-log.md). With one symbol the
    # two are the same model, and the setting is left out of the run's hash.
    scaling: Literal["pooled", "per_symbol"] = "per_symbol"
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="model seed; default: the top-level seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # Training threads; batch-1 inference always runs on one thread, which
    # is faster for a model this size than splitting tiny matrix products.
    # One by default: on shared or small machines torch with more threads
    # than free cores is several times slower, not faster.
    threads: int = Field(1, ge=1, le=256)
    # Inference engine for the recurrent kinds: ONNX Runtime is 2-3x faster
    # than torch eager at batch 1; auto uses it when it is installed.
    runtime: Literal["auto", "torch", "onnx"] = "auto"
    # random_forest only
    n_estimators: int = Field(200, ge=1, le=5000)
    max_depth: int | None = Field(6, ge=1)
    min_samples_leaf: int = Field(20, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _old_target_names(cls, data: Any) -> Any:
        """direction and return name the horizon target with a head."""
        if isinstance(data, dict) and data.get("target") in ("direction", "return"):
            head = "classification" if data["target"] == "direction" else "regression"
            if data.get("head", head) != head:
                raise ValueError(f"target {data['target']} implies head {head}")
            data = {**data, "target": "horizon", "head": head}
        return data

    @property
    def is_classifier(self) -> bool:
        return self.head == "classification"

    @field_validator("features")
    @classmethod
    def _known_features(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}; known: {', '.join(FEATURE_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError("features repeat")
        return names


class SymbolRiskConfig(Section):
    """Limits of one symbol that differ from the risk section's own."""

    max_position_fraction: float | None = Field(None, gt=0, le=1)
    max_symbol_fraction: float | None = Field(None, gt=0, le=10)


class RiskConfig(Section):
    """Rules between the strategy and the broker; every one optional but the
    first and the stop-loss. A block or forced action is an event."""

    # Sizing: an entry's value as a share of equity, optionally scaled down
    # so the position's volatility matches an annual target.
    max_position_fraction: float = Field(0.5, gt=0, le=1)
    target_volatility: float | None = Field(None, gt=0, description="annualised, e.g. 0.5")
    # Limits
    max_symbol_fraction: float = Field(1.0, gt=0, le=10)  # position value per symbol, share of equity
    max_gross_exposure: float = Field(1.0, gt=0, le=10)  # all positions, share of equity
    max_open_positions: int = Field(10, ge=1)
    min_order_notional: float = Field(10.0, ge=0)
    # Exits, evaluated on each bar's high and low
    stop_loss_pct: float = Field(0.03, gt=0, lt=1)
    take_profit_pct: float | None = Field(None, gt=0)
    trailing_stop_pct: float | None = Field(None, gt=0, lt=1)
    # Guards
    daily_loss_limit_pct: float | None = Field(None, gt=0, lt=1)  # no new entries until the next UTC day
    max_drawdown_pct: float | None = Field(None, gt=0, lt=1)  # kill switch: flatten, halt until `bot resume`
    cooldown_bars: int = Field(0, ge=0)  # no entry on a symbol for N bars after a stop-out
    max_bar_age_seconds: float | None = Field(None, gt=0)  # no trading on a bar older than this
    # Per-symbol sizing limits, e.g. {"SOL/USDT": {max_position_fraction: 0.1}}:
    # a thinner or wilder market gets a smaller share than the rest.
    per_symbol: dict[str, SymbolRiskConfig] = Field(default_factory=dict)

    def position_fraction(self, symbol: str) -> float:
        own = self.per_symbol.get(symbol)
        return (
            own.max_position_fraction if own and own.max_position_fraction is not None else self.max_position_fraction
        )

    def symbol_fraction(self, symbol: str) -> float:
        own = self.per_symbol.get(symbol)
        return own.max_symbol_fraction if own and own.max_symbol_fraction is not None else self.max_symbol_fraction


class PromotionConfig(Section):
    """When a freshly trained model replaces the champion."""

    metric: Literal["auc", "log_loss"] = "auc"
    # The challenger must beat the champion by this much (AUC points, or
    # log-loss units) on the newest validation windows neither model trained on.
    margin: float = Field(0.0, ge=0)
    # Fewer unseen validation windows than this: compare on the whole slice.
    min_windows: int = Field(100, ge=1)
    # The improvement must also be significant: a paired block bootstrap of
    # the metric's difference, one-sided p-value at most this; null: no test.
    significance: float | None = Field(0.05, gt=0, lt=1)
    bootstrap_samples: int = Field(500, ge=50, le=100_000)


class RetrainConfig(Section):
    # Cadence: every N days after the last version, or a cron expression
    # (UTC, e.g. "0 0 * * 0" for weekly); a retrain starts at the first bar
    # firing at or after the due time.
    every_days: float | None = Field(30.0, gt=0)
    cron: str | None = None
    # History needed before the first model is trained (replay: the initial
    # slice that is only observed, never traded).
    initial_train_bars: int = Field(8760, ge=200)
    # rolling: train on the newest train_window_bars bars at each retrain;
    # expanding: on every bar seen so far.
    window: Literal["rolling", "expanding"] = "rolling"
    train_window_bars: int = Field(8760, ge=200)
    promotion: PromotionConfig = PromotionConfig()

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, expression: str | None) -> str | None:
        if expression is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                trigger = CronTrigger.from_crontab(expression, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"'{expression}' is not a crontab expression: {exc}") from None
            # A day no month has (30 2 *): valid syntax that never fires, and
            # a run that keeps its first model for ever.
            if trigger.get_next_fire_time(None, datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)) is None:
                raise ValueError(f"'{expression}' never fires: no date matches it")
        return expression

    @model_validator(mode="after")
    def _one_cadence(self) -> RetrainConfig:
        if self.cron is not None and "every_days" in self.model_fields_set:
            raise ValueError("retrain: set every_days or cron, not both")
        return self


class ScheduleConfig(Section):
    # Seconds after a bar closes before it is fetched: exchanges publish the
    # closed candle a little late.
    bar_delay_seconds: float = Field(5.0, ge=0, le=3600)
    # When the bar that just closed is not served yet, ask again this much
    # later, up to late_retries times, instead of waiting a whole bar.
    late_retry_seconds: float = Field(10.0, gt=0, le=3600)
    late_retries: int = Field(3, ge=0, le=100)
    # broker: testnet: how often exchange balances and open orders are
    # compared with the database (also done at every start).
    reconcile_seconds: float = Field(300.0, gt=0, le=86_400)
    # A live bar step still running after this long is reported (event
    # bar_step_stuck, with the line it is on): no other step runs until it
    # ends. Above the slowest honest step: every fetch retried with backoff.
    stuck_step_seconds: float = Field(600.0, gt=0, le=86_400)


class MarketConfig(Section):
    """How market data is fetched and checked (live mode)."""

    page_limit: int = Field(1000, ge=1, le=10_000)  # candles per request; binance caps at 1000
    retries: int = Field(5, ge=0, le=20)  # per request, on network errors
    backoff_seconds: float = Field(1.0, gt=0, le=60)  # first wait; doubles, plus jitter
    backoff_max_seconds: float = Field(30.0, gt=0, le=600)
    # Firings a hole in the history is re-requested before it is accepted as
    # one the exchange cannot fill; the symbol is not traded meanwhile.
    gap_retries: int = Field(3, ge=0, le=100)
    # A close-to-close move beyond this many rolling standard deviations is
    # flagged in the events table (kept, not dropped).
    extreme_move_sigmas: float = Field(10.0, gt=0)


NotifyLevel = Literal["info", "warning", "error", "off"]

# Event kinds and the lowest level of each that is sent; "*" for the kinds
# not named. A blocked entry is matched by its rule (stale_data, cooldown...).
# The names are checked against bot/event_kinds.py.
DEFAULT_NOTIFY_EVENTS: dict[str, NotifyLevel] = {
    "fill": "info",
    "stop_loss": "info",
    "take_profit": "info",
    "kill_switch": "info",
    "daily_loss_limit": "info",
    "entries_halted": "info",
    "flatten_requested": "info",
    "resumed": "info",
    "model_trained": "info",  # a new champion: a promotion
    "stale_data": "warning",
    "daily_summary": "info",
    "*": "error",  # any other error: failed fetches, exchange and reconciliation errors, a failing strategy
}


class NotifyConfig(Section):
    """Which events are sent to the URLs in BOT_NOTIFY_URLS (bot/app/notify.py);
    with that variable unset nothing is sent."""

    # A list of kinds is read as each at "info" (and nothing else sent).
    events: dict[str, NotifyLevel] = Field(default_factory=lambda: dict(DEFAULT_NOTIFY_EVENTS))
    timeout_seconds: float = Field(5.0, gt=0, le=120)  # per connection and per read
    retries: int = Field(2, ge=0, le=10)  # a failed message is tried again this often, then logged
    drain_seconds: float = Field(5.0, ge=0, le=120)  # at the end of a run, for what is still queued
    # A summary at each UTC day's end; null: in live and testnet runs, not in replay.
    daily_summary: bool | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _kinds_as_list(cls, value: Any) -> Any:
        return dict.fromkeys(value, "info") if isinstance(value, list) else value

    @field_validator("events")
    @classmethod
    def _known_names(cls, events: dict[str, NotifyLevel]) -> dict[str, NotifyLevel]:
        """A misspelt kind (kill_swich) was accepted, and its events never sent."""
        for name in events:
            problem = unknown_name(name, NOTIFY_NAMES)
            if problem:
                raise ValueError(problem)
        return events


class ApiConfig(Section):
    """`bot run` with enabled: true starts `bot serve` beside the daemon, a
    process of its own (a fault in it never stops trading), and stops it
    when the daemon stops."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str = "state/bot.jsonl"


# Off while Config.exactly builds a config whose values already carry the
# environment's overrides.
_ENVIRONMENT_APPLIES: ContextVar[bool] = ContextVar("environment_applies", default=True)


class Config(BaseSettings):
    """The whole config. Environment variables override the YAML file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    mode: Literal["replay", "live"] = "replay"
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1)
    timeframe: str = "1h"
    seed: int = Field(42, ge=0, le=SEED_MAX)
    exchange: ExchangeConfig = ExchangeConfig()
    replay: ReplayConfig = ReplayConfig()
    # paper: the local fill simulator; testnet: orders on the exchange in
    # sandbox mode, credentials from BOT_EXCHANGE_* environment variables.
    broker: Literal["paper", "testnet"] = "paper"
    paper: PaperConfig = PaperConfig()
    storage: StorageConfig = StorageConfig()
    strategy: StrategyConfig = StrategyConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    risk: RiskConfig = RiskConfig()
    retrain: RetrainConfig = RetrainConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    market: MarketConfig = MarketConfig()
    logging: LoggingConfig = LoggingConfig()
    notify: NotifyConfig = NotifyConfig()
    api: ApiConfig = ApiConfig()
    # Directory that relative paths are resolved against; set by load_config.
    base_dir: str = "."

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_a_bool_for_a_number(cls, value, info)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so that it overrides the YAML passed as init data;
        # not at all for values that already carry it (Config.exactly).
        if not _ENVIRONMENT_APPLIES.get():
            return (init_settings,)
        return (env_settings, init_settings)

    @classmethod
    def exactly(cls, data: dict[str, Any]) -> Config:
        """A config from values as they are: those of a loaded config (the
        environment already applied) with some changed on purpose, as a
        backtest variant's own database. The environment must not override
        them again."""
        token = _ENVIRONMENT_APPLIES.set(False)
        try:
            return cls(**data)
        finally:
            _ENVIRONMENT_APPLIES.reset(token)

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        timeframe_ms(value)  # raises ValueError with a readable message
        return value

    @field_validator("symbols")
    @classmethod
    def _symbol_shape(cls, symbols: list[str]) -> list[str]:
        for symbol in symbols:
            problem = symbol_problem(symbol)
            if problem:
                raise ValueError(problem)
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols repeat")
        return symbols

    @model_validator(mode="after")
    def _testnet_is_live_and_sandboxed(self) -> Config:
        if self.broker == "testnet" and self.mode != "live":
            raise ValueError("broker: testnet trades on an exchange; it needs mode: live")
        if self.broker == "testnet" and not self.exchange.sandbox:
            raise ValueError("exchange.sandbox: must be true with broker: testnet (orders go to the testnet only)")
        if self.broker == "testnet" and len({s.split("/")[1] for s in self.symbols}) > 1:
            raise ValueError("symbols: with broker: testnet all must share one quote currency (the ledger's cash)")
        return self

    @model_validator(mode="after")
    def _barrier_target_has_distances(self) -> Config:
        if self.model.target == "triple_barrier" and self.risk.take_profit_pct is None:
            raise ValueError(
                "risk.take_profit_pct: model.target triple_barrier needs a take-profit distance "
                "(the label asks which barrier a trade reaches first)"
            )
        return self

    @model_validator(mode="after")
    def _bar_age_limit_outlasts_the_bar_delay(self) -> Config:
        """Every bar is first seen schedule.bar_delay_seconds after it
        closes: a shorter age limit blocks every bar, and the run never
        trades while looking healthy."""
        limit, delay = self.risk.max_bar_age_seconds, self.schedule.bar_delay_seconds
        if limit is not None and limit <= delay:
            raise ValueError(
                f"risk.max_bar_age_seconds: {limit:g} s is not more than schedule.bar_delay_seconds ({delay:g} s); "
                "every bar would be too old when the bot first sees it, and none would be traded"
            )
        return self

    @model_validator(mode="after")
    def _an_entry_can_reach_the_minimum_order(self) -> Config:
        """A paper account whose largest entry is under the minimum order
        never trades, and looks healthy: ETH/BTC with 1 BTC of cash and the
        default minimum of 10 (in the quote currency) blocked every entry."""
        if self.broker != "paper":
            return self  # an exchange account's cash is its balance, read at start
        for symbol in self.symbols:
            largest = self.paper.initial_cash * self.risk.position_fraction(symbol)
            if largest < self.risk.min_order_notional:
                raise ValueError(
                    f"risk.min_order_notional: {self.risk.min_order_notional:g} is more than {symbol}'s largest entry, "
                    f"{largest:g} (paper.initial_cash {self.paper.initial_cash:g} x max_position_fraction "
                    f"{self.risk.position_fraction(symbol):g}), in the quote currency: it could never trade"
                )
        return self

    @model_validator(mode="after")
    def _per_symbol_limits_name_traded_symbols(self) -> Config:
        strangers = sorted(set(self.risk.per_symbol) - set(self.symbols))
        if strangers:
            raise ValueError(
                f"risk.per_symbol: {strangers[0]!r} is not one of symbols; a typo would silently not apply"
            )
        return self

    def _windows_needed(self) -> int:
        """Rows for a first train/validation split with some training
        windows left: the two windows' reach kept between the parts
        (bot/model/dataset.py's embargo) and a fifth more, as the training
        share, plus the reach of one window. At model.val_fraction 0.2
        that is 4 x (seq_len + horizon_bars); a larger validation share
        needs more, or no split is ever made and no model trains."""
        reach = self.model.seq_len + self.model.horizon_bars
        return max(4 * reach, reach + math.ceil(2.4 * reach / (1 - self.model.val_fraction) - 1e-9))

    @model_validator(mode="after")
    def _retrain_cadence_is_a_bar_or_more(self) -> Config:
        every = self.retrain.every_days
        if every is not None and every * 86_400_000 < self.timeframe_ms:
            raise ValueError(
                f"retrain.every_days: {every:g} days is shorter than one {self.timeframe} bar; "
                "a model would train at every bar"
            )
        return self

    def _no_file_shared(self) -> None:
        """Two traded symbols replayed from one file would be one market
        twice under two names: a slip in the mapping, never a setting."""
        assert isinstance(self.replay.data, dict)
        seen: dict[object, tuple[str, Path]] = {}
        for symbol in self.symbols:
            path = self.path(self.replay.data[symbol]).resolve()
            # A hard link has its own path and the same file: compare the
            # file itself where it exists (its data check comes later).
            try:
                info = path.stat()
                identity: object = (info.st_dev, info.st_ino)
            except OSError:
                identity = path
            if identity in seen:
                first, first_path = seen[identity]
                same = str(path) if first_path == path else f"one file ({first_path} and {path} are hard links)"
                raise ValueError(f"replay.data: {first} and {symbol} are both {same}; each symbol needs its own file")
            seen[identity] = (symbol, path)

    @model_validator(mode="after")
    def _replay_data_covers_symbols(self) -> Config:
        if self.mode == "replay" and isinstance(self.replay.data, str) and len(self.symbols) > 1:
            raise ValueError("replay.data: must map each symbol to a CSV when there are several symbols")
        if isinstance(self.replay.data, dict):
            missing = [s for s in self.symbols if s not in self.replay.data]
            if missing:
                raise ValueError(
                    f"replay.data: no CSV for {', '.join(missing)} (it maps {', '.join(self.replay.data) or 'nothing'})"
                )
            self._no_file_shared()
        needed = self.features.warmup_bars + FIRST_DEFINED_INDEX + 1 + self._windows_needed()
        for name in ("initial_train_bars", "train_window_bars"):
            if getattr(self.retrain, name) < needed:
                raise ValueError(
                    f"retrain.{name}: must be at least {needed}: feature warm-up plus "
                    "enough model.seq_len windows for training and validation"
                )
        return self

    # -- derived values -------------------------------------------------

    @property
    def timeframe_ms(self) -> int:
        return timeframe_ms(self.timeframe)

    @property
    def live_history_bars(self) -> int:
        """Bars a live start fetches: the first training's, the features'
        warm-up, and the bars before the first feature vector is defined
        (ret_96 needs 97 closes), so adding a longer feature cannot leave
        the first model short of history."""
        return self.retrain.initial_train_bars + self.features.warmup_bars + FIRST_DEFINED_INDEX + 1

    def path(self, relative: str) -> Path:
        """A config path resolved against the config file's directory."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def replay_csv(self, symbol: str) -> Path:
        data = self.replay.data
        return self.path(data[symbol] if isinstance(data, dict) else data)

    def require_replay_data(self, symbols: list[str] | None = None) -> None:
        """Refuse a replay whose CSV is missing, or named for another symbol
        (`ETH/USDT: data/BTC_USDT-1h.csv.gz`), before any work starts."""
        for symbol in symbols or self.symbols:
            path = self.replay_csv(symbol)
            problem = unreadable_file(path)
            if problem:
                raise ConfigError(f"replay.data: {path}: {problem}")
            named = named_for_another_symbol(path, symbol)
            if named is not None:
                raise ConfigError(
                    f"replay.data: {symbol}'s file {path.name} is named for {named}; "
                    "give the symbol its own file, or rename the file if its name is wrong"
                )

    @property
    def db_url(self) -> str:
        """storage.db_url with a relative SQLite path made absolute, and on
        PostgreSQL scoped to storage.run (bot/run_names.py)."""
        url = self.storage.db_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            return prefix + str(self.path(url[len(prefix) :]).resolve())
        return run_url(url, self.storage.run)

    @property
    def db_shown(self) -> str:
        """db_url as it may be printed: a password in it is masked."""
        from bot.secrets import masked_url

        return masked_url(self.db_url)

    def decision_hash(self) -> str:
        """Hash of everything that changes decisions; a resumed run must match it."""
        return hashlib.sha256(self.decision_json().encode()).hexdigest()[:16]

    def decision_json(self) -> str:
        """Everything that changes decisions, as JSON: what the hash is of,
        and what a refused resume compares to say which setting changed."""
        relevant = self.model_dump(
            include={
                "mode",
                "symbols",
                "timeframe",
                "seed",
                "replay",
                "broker",
                "paper",
                "strategy",
                "features",
                "model",
                "risk",
                "retrain",
            }
        )
        for (section, key), default in HASHED_ONLY_WHEN_SET.items():
            if relevant[section].get(key) == default:
                del relevant[section][key]
        if len(self.symbols) == 1:
            # One symbol's own scaler is the pooled one: no decision depends on it.
            relevant["model"].pop("scaling", None)
        return json.dumps(relevant, sort_keys=True, default=str)


# Settings added after runs were already being made: at the value that
# decides as the bot did before they existed, they leave the hash alone and
# a run made before the upgrade still resumes.
HASHED_ONLY_WHEN_SET: dict[tuple[str, str], object] = {("model", "mirror"): False, ("model", "scaling"): "pooled"}


def symbol_problem(symbol: str) -> str | None:
    """Why `symbol` is no market's name, or None."""
    if symbol.count("/") != 1 or symbol.startswith("/") or symbol.endswith("/"):
        return f"'{symbol}' is not BASE/QUOTE"
    if any(c.isspace() for c in symbol):  # " BTC/USDT" is no market, and no file's name
        return f"'{symbol}' has a space in it"
    return None


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """'section.field: what is wrong' for the first error: one line."""
    first = error.errors()[0]
    location = ".".join([prefix] * bool(prefix) + [str(part) for part in first["loc"]])
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    # Whole-config checks name their fields in the message itself.
    return f"{location}: {message}" if location else message


# Mappings whose keys keep their case: symbols, ccxt's camelCase options
# and url names. pydantic-settings lowercases a variable's name, so
# BOT__RISK__PER_SYMBOL__BTC/USDT__… arrived as 'btc/usdt' and was refused
# as a stranger, and BOT__EXCHANGE__OPTIONS__DEFAULTTYPE would silently set
# 'defaulttype'. Such a key can only be given inside the mapping's JSON.
CASED_KEY_MAPPINGS = (("risk", "per_symbol"), ("replay", "data"), ("exchange", "options"), ("exchange", "urls"))


def _check_env_overrides() -> None:
    """pydantic-settings ignores unknown top-level variables; a typo must not."""
    known = set(Config.model_fields) - {"base_dir"}
    for name in os.environ:
        if name.startswith(ENV_PREFIX):
            parts = name[len(ENV_PREFIX) :].split("__")
            head = parts[0].lower()
            if head not in known:
                raise ConfigError(f"{name}: no config field '{head}'")
            if len(parts) > 2 and (head, parts[1].lower()) in CASED_KEY_MAPPINGS:
                whole = f"{ENV_PREFIX}{parts[0]}__{parts[1]}".upper()
                raise ConfigError(
                    f"{name}: a variable's name loses the case of {head}.{parts[1].lower()}'s keys; "
                    f"give the whole mapping as JSON in {whole}"
                )


def _structured_env_key(section: str) -> str | None:
    """The BOT__SECTION__KEY variable, if any, whose key takes a list or a
    mapping and whose value is not JSON: pydantic-settings names only the
    section, which sent people to set one key when they had."""
    model = Config.model_fields.get(section)
    annotation = model.annotation if model is not None else None
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    head = f"{ENV_PREFIX}{section.upper()}__"
    for name, value in os.environ.items():
        if not name.upper().startswith(head) or "__" in name[len(head) :]:
            continue
        field = annotation.model_fields.get(name[len(head) :].lower())
        if field is None or not _structured(field.annotation):
            continue
        try:
            json.loads(value)
        except ValueError:
            return name
    return None


def _structured(annotation: Any) -> bool:
    """A list, a mapping or a model, or an optional one of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = get_origin(annotation)
    if origin in (list, dict, tuple, set):
        return True
    return origin in (Union, UnionType) and any(_structured(a) for a in get_args(annotation))


class BadKey(yaml.YAMLError):
    """A key given twice in one mapping, or a key that is no name."""


MERGE_TAG = "tag:yaml.org,2002:merge"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a second `risk:` section
    would silently replace the first, so a repeated key is refused. Keys
    are names: `1:` or `[a, b]:` is refused on its line, not as a crash.

    An unquoted date stays text, as a quoted one is: the fields that take
    dates check them and name themselves, where YAML's own conversion
    failed on 2021-02-30 with a bare ValueError."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults`: the base's own loader merges it
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise BadKey(f"line {line}: a key must be a name, not {type(key).__name__} {key!r}")
            if key in seen:
                raise BadKey(
                    f"line {line}: `{key}` is given twice in the same section; "
                    "the second would silently replace the first"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path) -> Config:
    """Read, override from the environment and validate; ConfigError otherwise."""
    path = Path(path)
    _check_env_overrides()
    problem = unreadable_file(path)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except BadKey as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML") from None
    except (ValueError, TypeError, AttributeError) as exc:  # a tag's own conversion failed: !!int "abc"
        raise ConfigError(f"{path}: not valid YAML ({first_line(exc)[:120]})") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; copy config.yaml and change what you need")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    if "base_dir" in data:
        raise ConfigError("base_dir: set by the loader, not by the file")
    data["base_dir"] = str(path.resolve().parent)
    try:
        return Config(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:  # an environment override that is not valid JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"{ENV_PREFIX}{field.group(1).upper()}" if field else f"a {ENV_PREFIX} variable"
        if field and field.group(1) == "symbols":  # the one list at the top level
            raise ConfigError(f'{name}: not valid JSON for a list; write it as \'["BTC/USDT", "ETH/USDT"]\'') from None
        key = _structured_env_key(field.group(1)) if field else None
        if key is not None:
            raise ConfigError(
                f'{key}: a list or mapping is given as JSON, e.g. \'["a", "b"]\' or \'{{"key": 1}}\''
            ) from None
        raise ConfigError(
            f"{name}: not valid JSON for a whole section; set one key as {ENV_PREFIX}SECTION__KEY instead"
        ) from None
