"""The schema, as SQLAlchemy Core tables, for SQLite and PostgreSQL alike.
Times are epoch milliseconds, UTC: 64-bit integers (BigInteger), which
SQLite's INTEGER always is and PostgreSQL's is not.

Core, not an ORM: the store reads and writes rows, never mapped objects,
and the ORM layer cost every command a third of a second of start-up.

A change here needs a migration in bot/store/migrations/versions/ that
makes the same change to an existing database (`bot db upgrade` applies
it); tests/test_migrations.py checks that the two agree."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()


def _key(name: str, kind: type = String) -> Column:
    return Column(name, kind, primary_key=True)


def _ts(name: str = "ts", *, nullable: bool = False, index: bool = False, default: int | None = None) -> Column:
    return Column(name, BigInteger, nullable=nullable, index=index, default=default)


def _text(name: str, *, nullable: bool = False, index: bool = False, default: str | None = None) -> Column:
    return Column(name, String, nullable=nullable, index=index, default=default)


def _number(name: str, *, nullable: bool = False, default: float | None = None) -> Column:
    return Column(name, Float, nullable=nullable, default=default)


def _count(name: str, *, nullable: bool = False, default: int | None = None) -> Column:
    return Column(name, Integer, nullable=nullable, default=default)


def _ohlcv() -> list[Column]:
    return [_number(name) for name in ("open", "high", "low", "close", "volume")]


RunMetaRow = Table("run_meta", metadata, _key("key"), _text("value"))

BarRow = Table("bars", metadata, _key("symbol"), _key("ts", BigInteger), *_ohlcv())

PredictionRow = Table(
    "predictions",
    metadata,
    _key("symbol"),
    _key("ts", BigInteger),  # the bar the prediction was made at
    _text("model_version"),
    _number("prob_up"),  # P(the target's label is 1)
    _number("predicted_return", nullable=True),  # regression heads: the predicted log return
    _number("expected_edge", nullable=True),  # the target's expected return before costs
    _number("volatility_forecast", nullable=True),  # per bar, over the horizon
    _number("regime", nullable=True),  # P(turbulent regime)
    _text("decision"),  # enter, exit, hold, abstain, blocked, pending
    _text("reason"),  # why: the strategy's words, or the risk rule that blocked it
    _count("outcome", nullable=True),  # the target's label, set once it is known
    _number("realized_return", nullable=True),  # the target's realized return, set with the outcome
)

OrderRow = Table(
    "orders",
    metadata,
    _key("id"),
    _text("symbol", index=True),
    _text("side"),
    _text("kind"),
    _number("qty"),
    _number("stop_price", nullable=True),
    _number("limit_price", nullable=True),
    _ts("created_ts"),
    _text("status", index=True),  # migration 0002
    _ts("closed_ts", nullable=True),
    _text("reason"),
    _number("filled_qty", default=0.0),
    _ts("not_before_ts", default=0),
    _number("slippage_bps", default=0.0),
    _text("group", nullable=True),
)

FillRow = Table(
    "fills",
    metadata,
    _key("id", Integer),
    _text("order_id", index=True),
    _text("symbol", index=True),
    _text("side"),
    _number("qty"),
    _number("price"),
    _number("fee"),
    _ts(index=True),
    _number("realized_pnl"),  # this fill's contribution, fee included
    _text("trade_id", nullable=True),  # the exchange's trade id (exchange-backed brokers)
)

# Each symbol's position after each bar step: the history and the state a
# restart resumes from.
PositionRow = Table(
    "positions",
    metadata,
    _key("ts", BigInteger),
    _key("symbol"),
    _number("qty"),
    _number("avg_entry"),
    _number("mark"),
    _number("realized_pnl"),
    _number("stop_price", nullable=True),
)

EquityRow = Table(
    "equity",
    metadata,
    _key("ts", BigInteger),
    *[_number(name) for name in ("cash", "position_value", "equity", "realized_pnl", "unrealized_pnl", "fees_paid")],
)

ModelVersionRow = Table(
    "model_versions",
    metadata,
    _key("version"),
    _ts("created_ts"),  # clock time of the retrain (simulated in replay)
    _ts("train_from_ts"),
    _ts("train_to_ts"),
    _count("n_train"),
    _count("n_val"),
    _text("metrics_json"),
    _text("status"),  # candidate, champion, rejected, retired
    _text("path"),
    _text("config_hash"),
    _text("kind", default="lstm"),
    # Rolling scores of its predictions once their bars closed (see LiveScore).
    _count("live_n", default=0),
    _number("live_accuracy", nullable=True),
    _number("live_auc", nullable=True),
)

EventRow = Table(
    "events",
    metadata,
    _key("id", Integer),
    _ts(index=True),
    _text("level"),
    _text("kind", index=True),
    _text("symbol", nullable=True),
    _text("message"),
    _text("data_json", nullable=True),
)

# Downloaded history (`bot download`), apart from the bars a run stepped.
CandleRow = Table(
    "candles",
    metadata,
    _key("exchange"),
    _key("symbol"),
    _key("timeframe"),
    _key("ts", BigInteger),
    *_ohlcv(),
)
