"""The hot write path: one bar step's rows, on a held sqlite3 connection,
with statements prepared once (sqlite3 caches them by text) and rows passed
as tuples to executemany. SQLAlchemy's statement building, connection
checkout and per-statement bookkeeping cost more per bar than sqlite's own
work; the tables and the rows written are the same as through SQLAlchemy.

Only what changed is written: the risk manager's memory when it differs
from the last one written. A replay may group `group_steps` steps into one
transaction: a replay resumes from its last committed step and is
deterministic, so a crash loses only work that is done again the same way.
Live mode commits every step (group_steps 1).

Anything else that touches the database first calls `flush()`, so that
other connections see every step before they read or write."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from bot import json_values
from bot.domain import Event, Fill, Order, Prediction
from bot.ledger import Position
from bot.secrets import scrub
from bot.step_record import StepRecord
from bot.store.tables import (
    BarRow,
    EquityRow,
    EventRow,
    FillRow,
    ModelVersionRow,
    OrderRow,
    PositionRow,
    PredictionRow,
    RunMetaRow,
)

RISK_STATE_KEY = "risk_state"


def _insert(table: Table, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'


def _update(table: Table, columns: Sequence[str], keys: Sequence[str]) -> str:
    sets = ", ".join(f'"{c}" = ?' for c in columns)
    where = " AND ".join(f'"{k}" = ?' for k in keys)
    return f'UPDATE "{table.name}" SET {sets} WHERE {where}'


BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
PREDICTION_COLUMNS = (
    "symbol",
    "ts",
    "model_version",
    "prob_up",
    "predicted_return",
    "expected_edge",
    "volatility_forecast",
    "regime",
    "decision",
    "reason",
)
ORDER_COLUMNS = (
    "id",
    "symbol",
    "side",
    "kind",
    "qty",
    "stop_price",
    "limit_price",
    "created_ts",
    "status",
    "closed_ts",
    "reason",
    "filled_qty",
    "not_before_ts",
    "slippage_bps",
    "group",
)
ORDER_STATE_COLUMNS = ("qty", "stop_price", "status", "closed_ts", "filled_qty", "kind")  # kind: a stop sent as market
FILL_COLUMNS = ("order_id", "symbol", "side", "qty", "price", "fee", "ts", "realized_pnl", "trade_id")
POSITION_COLUMNS = ("ts", "symbol", "qty", "avg_entry", "mark", "realized_pnl", "stop_price")
EQUITY_COLUMNS = ("ts", "cash", "position_value", "equity", "realized_pnl", "unrealized_pnl", "fees_paid")
EVENT_COLUMNS = ("ts", "level", "kind", "symbol", "message", "data_json")

SQL = {
    "bar": _insert(BarRow, BAR_COLUMNS),
    "prediction": _insert(PredictionRow, PREDICTION_COLUMNS),
    "order": _insert(OrderRow, ORDER_COLUMNS),
    "order_state": _update(OrderRow, ORDER_STATE_COLUMNS, ("id",)),
    "fill": _insert(FillRow, FILL_COLUMNS),
    "position": _insert(PositionRow, POSITION_COLUMNS),
    "equity": _insert(EquityRow, EQUITY_COLUMNS),
    "event": _insert(EventRow, EVENT_COLUMNS),
    "outcome": _update(PredictionRow, ("outcome", "realized_return"), ("symbol", "ts")),
    "live_metrics": _update(ModelVersionRow, ("live_n", "live_accuracy", "live_auc"), ("version",)),
    "meta": f'INSERT OR REPLACE INTO "{RunMetaRow.name}" ("key", "value") VALUES (?, ?)',
    "drop_positions": f'DELETE FROM "{PositionRow.name}" WHERE "ts" = ?',
    "drop_equity": f'DELETE FROM "{EquityRow.name}" WHERE "ts" = ?',
}


# PostgreSQL has no INSERT OR REPLACE; the key is the primary key.
POSTGRES_META = (
    f'INSERT INTO "{RunMetaRow.name}" ("key", "value") VALUES (%s, %s) '
    'ON CONFLICT ("key") DO UPDATE SET "value" = EXCLUDED."value"'
)


# Every connection to a run's SQLite file, the step writer's and the store's:
# - WAL: readers (bot status, reports, the dashboard) never block the writer;
# - NORMAL sync is durable against a killed process, the crash that matters;
# - a checkpoint when the WAL holds 10,000 pages (40 MB), not SQLite's 1,000.
#   A step over many symbols dirties one index page per symbol in bars and
#   predictions (their keys start with the symbol), the same pages at every
#   step; a checkpoint copies each back to the file once however often it
#   changed, so ten times fewer checkpoints copy far fewer pages. Measured on
#   the 100-symbol step: the commit's CPU from about 3.6 to 2.3 ms.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "wal_autocheckpoint=10000")


class StepWriter:
    """On a SQLite file, through sqlite3."""

    error: type[Exception] = sqlite3.Error
    sql = SQL
    conn: Any  # a sqlite3 or a psycopg connection: both execute(), commit() and close()

    def __init__(self, path: Path, group_steps: int = 1) -> None:
        # Autocommit mode: the transactions are ours (BEGIN ... COMMIT).
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in SQLITE_PRAGMAS:
            self.conn.execute(f"PRAGMA {pragma}")
        self._setup(group_steps)

    def _setup(self, group_steps: int) -> None:
        self.group_steps = max(1, group_steps)
        self.pending = 0  # steps written but not committed
        self.last_risk_state: str | None = None
        # The bar job writes steps; in live mode a retrain thread may flush.
        self.lock = threading.Lock()

    def write(self, rec: StepRecord) -> None:
        with self.lock:
            if self.pending == 0:
                self._begin()
            try:
                self._rows(rec)
            except BaseException as exc:
                self._rollback()  # never half a step, nor the steps grouped with it
                self.pending = 0
                self.last_risk_state = None
                if isinstance(exc, self.error):
                    # The same exception classes as the rest of the store raises.
                    raise DBAPIError.instance(None, None, exc, self.error) from exc
                raise
            self.pending += 1
            if self.pending >= self.group_steps:
                self._commit()

    def _begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def _executemany(self, statement: str, rows: list) -> None:
        self.conn.executemany(statement, rows)

    def flush(self) -> None:
        """Commit the grouped steps now (before anything else reads or writes)."""
        with self.lock:
            if self.pending:
                self._commit()

    def close(self) -> None:
        self.flush()
        self.conn.close()

    def forget(self) -> None:
        """The tables were dropped and made again: nothing written is known."""
        self.last_risk_state = None

    def _commit(self) -> None:
        self.conn.execute("COMMIT")
        self.pending = 0

    def _rows(self, rec: StepRecord) -> None:
        run, sql = self._executemany, self.sql
        if rec.bars:
            run(sql["bar"], [(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume) for b in rec.bars])
        if rec.predictions:
            run(sql["prediction"], [_prediction(p) for p in rec.predictions])
        if rec.new_orders:
            run(sql["order"], [_order(o) for o in rec.new_orders])
        if rec.closed_orders or rec.changed_orders:
            run(sql["order_state"], [(*_order_state(o), o.id) for o in (*rec.closed_orders, *rec.changed_orders)])
        if rec.fills:
            run(sql["fill"], [_fill(f, pnl) for f, pnl in rec.fills])
        if rec.amends:
            self.conn.execute(sql["drop_positions"], (rec.ts,))
            self.conn.execute(sql["drop_equity"], (rec.ts,))
        if rec.positions:
            run(sql["position"], [_position(rec.ts, p, stop) for p, stop in rec.positions])
        if rec.equity is not None:
            e = rec.equity
            values = (e.ts, e.cash, e.position_value, e.equity, e.realized_pnl, e.unrealized_pnl, e.fees_paid)
            self.conn.execute(sql["equity"], values)
        if rec.events:
            run(sql["event"], [event_values(e) for e in rec.events])
        if rec.outcomes:
            run(sql["outcome"], [(label, realized, symbol, ts) for symbol, ts, label, realized in rec.outcomes])
        if rec.live_metrics:
            run(sql["live_metrics"], [(n, acc, auc, version) for version, n, acc, auc in rec.live_metrics])
        if rec.risk_state is not None and rec.risk_state != self.last_risk_state:
            self.conn.execute(sql["meta"], (RISK_STATE_KEY, rec.risk_state))
            self.last_risk_state = rec.risk_state


def event_values(e: Event) -> tuple:
    # Valid JSON (a non-finite figure as null): Infinity in a model's metrics
    # made the row unreadable to SQLite's own JSON functions.
    data = scrub(json_values.dumps(e.data, sort_keys=True)) if e.data is not None else None
    # Every event row passes here: an exchange's error text that echoed the
    # API key reached the events table, `bot status` and the API from the
    # broker's and the bar job's events, which no log scrubbing sees.
    return (e.ts, e.level, e.kind, e.symbol, scrub(e.message), data)


def _prediction(p: Prediction) -> tuple:
    return (
        p.symbol,
        p.ts,
        p.model_version,
        p.prob_up,
        p.predicted_return,
        p.expected_edge,
        p.volatility_forecast,
        p.regime,
        p.decision,
        p.reason,
    )


def _order(o: Order) -> tuple:
    return (
        o.id,
        o.symbol,
        o.side.value,
        o.kind.value,
        o.qty,
        o.stop_price,
        o.limit_price,
        o.created_ts,
        o.status.value,
        o.closed_ts,
        o.reason,
        o.filled_qty,
        o.not_before_ts or 0,
        o.slippage_bps or 0.0,
        o.group,
    )


def _order_state(o: Order) -> tuple:
    return (o.qty, o.stop_price, o.status.value, o.closed_ts, o.filled_qty, o.kind.value)


def _fill(f: Fill, pnl: float) -> tuple:
    return (f.order_id, f.symbol, f.side.value, f.qty, f.price, f.fee, f.ts, pnl, f.trade_id)


def _position(ts: int, p: Position, stop: float | None) -> tuple:
    return (ts, p.symbol, p.qty, p.avg_entry, p.mark, p.realized_pnl, stop)


class PostgresStepWriter(StepWriter):
    """On a PostgreSQL server, through psycopg: the same statements with its
    placeholders, in a transaction psycopg opens at the first statement."""

    sql = {name: text.replace("?", "%s") for name, text in SQL.items()} | {"meta": POSTGRES_META}

    def __init__(self, conninfo: str, group_steps: int = 1) -> None:
        import psycopg

        self.error = psycopg.Error
        self.conn = psycopg.connect(conninfo)
        self._setup(group_steps)

    def _begin(self) -> None:
        pass  # psycopg begins one before the first statement

    def _rollback(self) -> None:
        self.conn.rollback()

    def _commit(self) -> None:
        self.conn.commit()
        self.pending = 0

    def _executemany(self, statement: str, rows: list) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(statement, rows)
