"""The schema, as SQLModel tables, for SQLite and PostgreSQL alike. Times
are epoch milliseconds, UTC: 64-bit integers (BigInteger), which SQLite's
INTEGER always is and PostgreSQL's is not.

A change here needs a migration in bot/store/migrations/versions/ that
makes the same change to an existing database (`bot db upgrade` applies
it); tests/test_migrations.py checks that the two agree."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


class RunMetaRow(SQLModel, table=True):
    __tablename__ = "run_meta"
    key: str = Field(primary_key=True)
    value: str


class BarRow(SQLModel, table=True):
    __tablename__ = "bars"
    symbol: str = Field(primary_key=True)
    ts: int = Field(primary_key=True, sa_type=BigInteger)
    open: float
    high: float
    low: float
    close: float
    volume: float


class PredictionRow(SQLModel, table=True):
    __tablename__ = "predictions"
    symbol: str = Field(primary_key=True)
    ts: int = Field(primary_key=True, sa_type=BigInteger)  # the bar the prediction was made at
    model_version: str
    prob_up: float  # P(the target's label is 1)
    predicted_return: float | None = None  # regression heads: the predicted log return
    expected_edge: float | None = None  # the target's expected return before costs
    volatility_forecast: float | None = None  # per bar, over the horizon
    regime: float | None = None  # P(turbulent regime)
    decision: str  # enter, exit, hold, abstain, blocked, pending
    reason: str  # why: the strategy's words, or the risk rule that blocked it
    outcome: int | None = None  # the target's label, set once it is known
    realized_return: float | None = None  # the target's realized return, set with the outcome


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    id: str = Field(primary_key=True)
    symbol: str = Field(index=True)
    side: str
    kind: str
    qty: float
    stop_price: float | None = None
    limit_price: float | None = None
    created_ts: int = Field(sa_type=BigInteger)
    status: str = Field(index=True)  # migration 0002
    closed_ts: int | None = Field(default=None, sa_type=BigInteger)
    reason: str
    filled_qty: float = 0.0
    not_before_ts: int = Field(default=0, sa_type=BigInteger)
    slippage_bps: float = 0.0
    group: str | None = None


class FillRow(SQLModel, table=True):
    __tablename__ = "fills"
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    symbol: str = Field(index=True)
    side: str
    qty: float
    price: float
    fee: float
    ts: int = Field(index=True, sa_type=BigInteger)
    realized_pnl: float  # this fill's contribution, fee included
    trade_id: str | None = None  # the exchange's trade id (exchange-backed brokers)


class PositionRow(SQLModel, table=True):
    """Each symbol's position after each bar step: the history and the
    state a restart resumes from."""

    __tablename__ = "positions"
    ts: int = Field(primary_key=True, sa_type=BigInteger)
    symbol: str = Field(primary_key=True)
    qty: float
    avg_entry: float
    mark: float
    realized_pnl: float
    stop_price: float | None = None


class EquityRow(SQLModel, table=True):
    __tablename__ = "equity"
    ts: int = Field(primary_key=True, sa_type=BigInteger)
    cash: float
    position_value: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float


class ModelVersionRow(SQLModel, table=True):
    __tablename__ = "model_versions"
    version: str = Field(primary_key=True)
    created_ts: int = Field(sa_type=BigInteger)  # clock time of the retrain (simulated in replay)
    train_from_ts: int = Field(sa_type=BigInteger)
    train_to_ts: int = Field(sa_type=BigInteger)
    n_train: int
    n_val: int
    metrics_json: str
    status: str  # candidate, champion, rejected, retired
    path: str
    config_hash: str
    kind: str = "lstm"
    # Rolling scores of its predictions once their bars closed (see LiveScore).
    live_n: int = 0
    live_accuracy: float | None = None
    live_auc: float | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True, sa_type=BigInteger)
    level: str
    kind: str = Field(index=True)
    symbol: str | None = None
    message: str
    data_json: str | None = None


class CandleRow(SQLModel, table=True):
    """Downloaded history (`bot download`), apart from the bars a run stepped."""

    __tablename__ = "candles"
    exchange: str = Field(primary_key=True)
    symbol: str = Field(primary_key=True)
    timeframe: str = Field(primary_key=True)
    ts: int = Field(primary_key=True, sa_type=BigInteger)
    open: float
    high: float
    low: float
    close: float
    volume: float
