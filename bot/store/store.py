"""SQLite (or any SQLAlchemy URL): the run's durable state.

Each bar step is written in one transaction (`commit_step`), so a crash
loses at most the step in flight, never half of it (a replay may group
steps: see step_writer.py, the hot path, on sqlite3 directly). Everything
else goes through SQLAlchemy Core on the tables of bot/store/tables.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd
from sqlalchemy import (
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError

from bot.config import ConfigError
from bot.domain import Bar, Event, Order, OrderKind, OrderStatus, Prediction, Side
from bot.json_values import stored_object
from bot.ledger import EquityPoint, Position
from bot.model.version import ModelVersion
from bot.run_names import run_schema
from bot.secrets import masked_url, register_secret
from bot.step_record import StepRecord
from bot.store import schema
from bot.store.step_writer import EVENT_COLUMNS, SQLITE_PRAGMAS, PostgresStepWriter, StepWriter, event_values
from bot.store.tables import (
    BarRow,
    CandleRow,
    EquityRow,
    EventRow,
    FillRow,
    ModelVersionRow,
    OrderRow,
    PositionRow,
    PredictionRow,
    RunMetaRow,
    metadata,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class PositionState:
    """A symbol's position as a bar step left it, with the stop that
    protected it then: what a restart and `bot status` read back."""

    ts: int
    symbol: str
    qty: float
    avg_entry: float
    mark: float
    realized_pnl: float
    stop_price: float | None = None

    def position(self) -> Position:
        """The ledger's position, to resume from."""
        return Position(
            self.symbol, qty=self.qty, avg_entry=self.avg_entry, mark=self.mark, realized_pnl=self.realized_pnl
        )


def reason_kind(reason: str) -> str:
    """A decision's reason up to its first colon: the kind, without the numbers."""
    return reason.split(":", 1)[0].strip()


def _bar_columns() -> tuple:
    """A stored bar's values in Bar's order, after its symbol."""
    return (BarRow.c.ts, BarRow.c.open, BarRow.c.high, BarRow.c.low, BarRow.c.close, BarRow.c.volume)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def postgres_url(url: str) -> str | None:
    """A PostgreSQL URL with the driver this package installs (psycopg 3);
    None for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """The same server and database as libpq's URL, for a raw psycopg connection."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:  # the step writer's own, and why
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _event_row(e: Event) -> dict:
    return dict(zip(EVENT_COLUMNS, event_values(e), strict=True))


def _value(cls: type[V], row: Mapping) -> V:
    """A domain value from the stored columns of its fields' names; the
    table's other columns (an outcome known later, an id) are left out."""
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


def _order_of(row: Mapping) -> Order:
    """An order read back: its enums from the values the step writer wrote."""
    enums = {"side": Side(row["side"]), "kind": OrderKind(row["kind"]), "status": OrderStatus(row["status"])}
    return _value(Order, {**row, **enums})


def _event_of(row: Mapping) -> Event:
    return Event(
        row["ts"], row["kind"], row["message"], level=row["level"], symbol=row["symbol"], data=_event_data(row)
    )


def _event_data(row: Mapping) -> dict | None:
    """An event's data; a damaged text (not a JSON object) is shown as it
    is stored, under `unreadable`, so one bad row does not end the reader."""
    raw = row["data_json"]
    if raw is None:
        return None
    data = stored_object(raw)
    return data if data is not None else {"unreadable": str(raw)[:200]}


def _put_meta(conn, key: str, value: str) -> None:
    conn.execute(delete(RunMetaRow).where(RunMetaRow.c.key == key))
    conn.execute(insert(RunMetaRow), [{"key": key, "value": value}])


class Store:
    def __init__(self, url: str, group_steps: int = 1, reader: bool = False) -> None:
        """`group_steps`: bar steps per transaction (a replay may group them;
        live mode commits each). A `reader` (status, report, trades...) makes
        no tables and writes no record of the migration: the database may be
        a running daemon's, and its one writer is that daemon."""
        self.url = url
        path, server = sqlite_path(url), postgres_url(url)
        parts = make_url(url)
        for password in (parts.password, parts.query.get("password")):
            if password:  # in user:password@ or as ?password=: never in a log line
                register_secret(str(password))
        self._writer: StepWriter
        if path is not None:
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif server is not None:
            self.engine = create_engine(server, pool_pre_ping=True)
            if (own := run_schema(url)) is not None and not reader:
                with self.engine.begin() as conn:  # a run of its own: its schema first
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{own}"')
        else:
            raise ValueError(f"{url}: the store needs a SQLite file or a PostgreSQL database")
        foreign = schema.foreign_table(self.engine)
        if foreign is not None:
            self.engine.dispose()
            raise ConfigError(
                f"storage.db_url: {masked_url(url)}: {foreign}; give the bot a database of its own"
                + (", or a schema of its own with storage.run" if server is not None else "")
            )
        if not reader:
            self._make_or_adopt()
        if path is not None:
            self._writer = StepWriter(path, group_steps)
        else:
            self._writer = PostgresStepWriter(libpq_conninfo(url), group_steps)
        # Whatever else opens a connection first commits the grouped steps,
        # so it reads (and writes after) every step written so far.
        event.listen(self.engine, "engine_connect", lambda _conn: self._writer.flush())

    def _make_or_adopt(self) -> None:
        present = set(inspect(self.engine).get_table_names())
        ours = set(metadata.tables) | {schema.VERSION_TABLE.name}
        if present & ours and not self._first_start_cut_short():
            self._adopt_legacy()
            return
        # A new database, or one left by a first start killed while it made
        # its tables, before they were made in one transaction: every later
        # start was refused for "no record of their migration", asking for a
        # backup of an empty database. They hold nothing: made again.
        with self._schema_change() as conn:
            metadata.drop_all(conn)
            schema.VERSION_TABLE.drop(conn, checkfirst=True)
            metadata.create_all(conn)
            schema.stamp_new(conn)

    @contextmanager
    def _schema_change(self) -> Iterator[Connection]:
        """One transaction for tables made or dropped, so that a start or a
        `--fresh` killed midway leaves the database as it was."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # sqlite3 opens its own transactions only before a write of
                # rows: each CREATE or DROP TABLE would commit on its own.
                conn.exec_driver_sql("BEGIN")
            yield conn

    def _first_start_cut_short(self) -> bool:
        """No record of a migration, and not a row in any of the bot's tables."""
        try:
            if schema.revision(self.engine) is not None:
                return False
        except schema.MigrationRecordError:
            return False
        present = set(inspect(self.engine).get_table_names())
        with self.engine.connect() as conn:
            return not any(
                conn.execute(select(literal_column("1")).select_from(table).limit(1)).first()
                for name, table in metadata.tables.items()
                if name in present
            )

    def _adopt_legacy(self) -> None:
        """A database from before migrations, at the last schema version
        they started from, is the baseline migration."""
        try:
            found = schema.revision(self.engine)
        except schema.MigrationRecordError:
            return  # said by schema_problem, which every opener asks
        if found is None and self._is_legacy():
            schema.stamp(self.engine, schema.BASELINE)

    def _is_legacy(self) -> bool:
        return self.get_meta("schema_version") == schema.LEGACY_SCHEMA_VERSION

    def _revision(self) -> str | None:
        """The database's migration, a legacy one (which a reader leaves
        unstamped) counted as the baseline it is."""
        found = schema.revision(self.engine)
        if found is None and self._is_legacy():
            return schema.BASELINE
        return found

    def schema_problem(self) -> str | None:
        """Why this version of the bot cannot use the database as it is (None: it can)."""
        try:
            problem = schema.problem(self._revision())
        except schema.MigrationRecordError as exc:
            return str(exc)
        if problem is not None:
            return problem
        missing = schema.missing_tables(self.engine)
        if not missing:
            return None
        return (
            f"it lacks the table{'s' if len(missing) > 1 else ''} {', '.join(missing)} (damaged, or edited by hand); "
            "restore it from a backup, or start over on purpose with `bot run --fresh`"
        )

    def close(self) -> None:
        self._writer.close()
        self.engine.dispose()

    def reset(self) -> None:
        """Drop and recreate every table: `bot run --fresh` on PostgreSQL (a
        SQLite run's files are removed instead: bot/app/fresh_start.py)."""
        self._writer.flush()
        with self._schema_change() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
        self._writer.forget()

    # -- writes ----------------------------------------------------------

    def commit_step(self, rec: StepRecord) -> None:
        """Everything one bar step changed, in one transaction (grouped with
        the next steps' in a replay that asked for it)."""
        self._writer.write(rec)

    def add_candles(self, exchange: str, timeframe: str, bars: list[Bar], events: list[Event]) -> None:
        """Store downloaded candles in one transaction; bars whose open time
        is already stored are left as they are (the first copy wins)."""
        with self.engine.begin() as conn:
            if bars:
                conn.execute(
                    insert(CandleRow),
                    [
                        {
                            "exchange": exchange,
                            "symbol": b.symbol,
                            "timeframe": timeframe,
                            "ts": b.ts,
                            "open": b.open,
                            "high": b.high,
                            "low": b.low,
                            "close": b.close,
                            "volume": b.volume,
                        }
                        for b in bars
                    ],
                )
            if events:
                conn.execute(insert(EventRow), [_event_row(e) for e in events])

    def candles(self, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> list[Bar]:
        query = (
            select(
                CandleRow.c.ts,
                CandleRow.c.open,
                CandleRow.c.high,
                CandleRow.c.low,
                CandleRow.c.close,
                CandleRow.c.volume,
            )
            .where(
                CandleRow.c.exchange == exchange,
                CandleRow.c.symbol == symbol,
                CandleRow.c.timeframe == timeframe,
                CandleRow.c.ts >= start_ms,
                CandleRow.c.ts < end_ms,
            )
            .order_by(CandleRow.c.ts)
        )
        with self.engine.connect() as conn:
            return [Bar(symbol, *row) for row in conn.execute(query)]

    def add_event(self, e: Event) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(EventRow), [_event_row(e)])

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            _put_meta(conn, key, value)
        self._writer.forget()  # it may have been the risk state the writer remembers

    def add_request(self, key: str, order_key: str, origin: str) -> int:
        """One more operator request of kind `key`, numbered among all
        requests (`order_key`) and stored with its origin; the count of its
        kind. The first statement writes, so the transaction holds the
        write lock before it reads: requests made at once (the API's
        threads, the CLI) each get a number of their own (read, then write,
        two of them got the same one)."""
        table = RunMetaRow.name
        count_up = text(
            f'INSERT INTO "{table}" ("key", "value") VALUES (:key, \'1\') ON CONFLICT ("key") '
            f'DO UPDATE SET "value" = CAST(CAST("{table}"."value" AS INTEGER) + 1 AS TEXT)'
        )
        read = select(RunMetaRow.c.value).where(RunMetaRow.c.key == bindparam("key"))
        with self.engine.begin() as conn:
            numbers = []
            for counter in (order_key, key):
                conn.execute(count_up, {"key": counter})
                numbers.append(int(conn.execute(read, {"key": counter}).scalar_one()))
            made, count = numbers
            _put_meta(conn, f"{key}_origin", origin)
            _put_meta(conn, f"{key}_order", str(made))
        return count

    def add_model_version(self, version: ModelVersion, retire_champion: bool) -> None:
        """Register a version; as champion it retires the old one atomically."""
        with self.engine.begin() as conn:
            if retire_champion:
                conn.execute(
                    update(ModelVersionRow).where(ModelVersionRow.c.status == "champion").values(status="retired")
                )
            conn.execute(delete(ModelVersionRow).where(ModelVersionRow.c.version == version.version))
            conn.execute(insert(ModelVersionRow), [dataclasses.asdict(version)])

    def set_champion(self, version: str) -> None:
        """Make `version` the only champion; the previous one is retired."""
        with self.engine.begin() as conn:
            conn.execute(update(ModelVersionRow).where(ModelVersionRow.c.status == "champion").values(status="retired"))
            conn.execute(update(ModelVersionRow).where(ModelVersionRow.c.version == version).values(status="champion"))

    # -- reads -----------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(RunMetaRow.c.value).where(RunMetaRow.c.key == key)).scalar()

    def last_bar_ts(self, symbol: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(BarRow.c.ts)).where(BarRow.c.symbol == symbol)).scalar()

    def newest_bar_ts(self) -> int | None:
        """The newest stored bar of any symbol."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(BarRow.c.ts))).scalar()

    def first_prediction_ts(self) -> int | None:
        """The first bar the strategy was asked about: where trading starts."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(PredictionRow.c.ts))).scalar()

    def bar_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(BarRow)).scalar_one()

    def bar_at(self, symbol: str, ts: int) -> Bar | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_bar_columns()).where(BarRow.c.symbol == symbol, BarRow.c.ts == ts)).first()
        return Bar(symbol, *row) if row is not None else None

    def iter_bars(self, symbol: str, chunk: int = 20_000) -> Iterator[Bar]:
        """Stored bars in time order, read in chunks to bound memory."""
        after = -1
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(*_bar_columns())
                    .where(BarRow.c.symbol == symbol, BarRow.c.ts > after)
                    .order_by(BarRow.c.ts)
                    .limit(chunk)
                ).all()
            for r in rows:
                yield Bar(symbol, *r)
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def latest_equity(self) -> EquityPoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(EquityRow).order_by(EquityRow.c.ts.desc()).limit(1)).first()
        return _value(EquityPoint, row._mapping) if row else None

    def latest_positions(self) -> list[PositionState]:
        newest = (
            select(PositionRow.c.symbol, func.max(PositionRow.c.ts).label("ts"))
            .group_by(PositionRow.c.symbol)
            .subquery()
        )
        query = select(PositionRow).join(
            newest, (PositionRow.c.symbol == newest.c.symbol) & (PositionRow.c.ts == newest.c.ts)
        )
        with self.engine.connect() as conn:
            return [_value(PositionState, r._mapping) for r in conn.execute(query)]

    def open_orders(self) -> list[Order]:
        query = (
            select(OrderRow)
            .where(OrderRow.c.status.in_([s.value for s in OrderStatus if s.is_open]))
            .order_by(OrderRow.c.created_ts, OrderRow.c.id)
        )
        with self.engine.connect() as conn:
            return [_order_of(r._mapping) for r in conn.execute(query)]

    def trade_ids(self, order_ids: list[str]) -> set[tuple[str, str]]:
        """(symbol, exchange trade id) of the trades already booked as fills
        of these orders: an exchange numbers trades per market."""
        query = select(FillRow.c.symbol, FillRow.c.trade_id).where(
            FillRow.c.order_id.in_(order_ids), FillRow.c.trade_id.is_not(None)
        )
        with self.engine.connect() as conn:
            # trade_id IS NOT NULL in the query; the check only tells the type checker
            return {(symbol, trade_id) for symbol, trade_id in conn.execute(query) if trade_id is not None}

    def model_versions(self) -> list[ModelVersion]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ModelVersionRow).order_by(ModelVersionRow.c.created_ts)).all()
        return [_value(ModelVersion, r._mapping) for r in rows]

    def model_version_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(ModelVersionRow)).scalar_one()

    def model_version(self, version: str) -> ModelVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ModelVersionRow).where(ModelVersionRow.c.version == version)).first()
        return _value(ModelVersion, row._mapping) if row is not None else None

    def champion(self) -> ModelVersion | None:
        champions = [v for v in self.model_versions() if v.status == "champion"]
        return champions[-1] if champions else None

    # Whole tables as DataFrames, for reports: one column per stored field,
    # in the table's order, so reports need not know the tables.

    def equity_frame(self) -> pd.DataFrame:
        return self._frame(EquityRow, "ts")

    def fills_frame(self) -> pd.DataFrame:
        """In booking order: fills of one bar share its ts."""
        return self._frame(FillRow, "id")

    def predictions_frame(self) -> pd.DataFrame:
        return self._frame(PredictionRow, "ts")

    def bars_frame(self) -> pd.DataFrame:
        return self._frame(BarRow, "ts")

    def closes_since(self, start: int) -> pd.DataFrame:
        """ts, symbol and close of the bars from `start` on, and from each
        symbol's newest bar at or before it: what a buy-and-hold curve from
        `start` reads (its prices carried forward to `start`), without
        reading every column of the whole table."""
        newest_before = (
            select(func.max(BarRow.c.ts).label("ts")).where(BarRow.c.ts <= start).group_by(BarRow.c.symbol).subquery()
        )
        since = func.coalesce(select(func.min(newest_before.c.ts)).scalar_subquery(), start)
        query = select(BarRow.c.ts, BarRow.c.symbol, BarRow.c.close).where(BarRow.c.ts >= since).order_by(BarRow.c.ts)
        return self._read(query)

    def orders_frame(self) -> pd.DataFrame:
        return self._frame(OrderRow, "created_ts")

    def events_frame(self) -> pd.DataFrame:
        return self._frame(EventRow, "id")

    def _frame(self, table: Table, order_by: str) -> pd.DataFrame:
        return self._read(select(table).order_by(order_by))

    def _read(self, query) -> pd.DataFrame:
        """The query's rows as a frame. pandas wraps a database's fault in
        its own DatabaseError, whose text carries the SQL: the driver's own
        error is raised instead, as every other read of the store raises it
        (the API answered a damaged file with a bare 500 here, and a 503
        everywhere else)."""
        with self.engine.connect() as conn:
            try:
                return pd.read_sql(query, conn)
            except pd.errors.DatabaseError as exc:
                if isinstance(exc.__cause__, SQLAlchemyDatabaseError):
                    raise exc.__cause__ from None
                raise

    def open_predictions(self, symbol: str, newest: int) -> list[Prediction]:
        """Of a symbol's newest `newest` predictions, those whose outcome is
        not known yet, oldest first (older ones were all resolved by the
        steps that followed them)."""
        recent = (
            select(PredictionRow)
            .where(PredictionRow.c.symbol == symbol)
            .order_by(PredictionRow.c.ts.desc())
            .limit(newest)
            .subquery()
        )
        query = select(recent).where(recent.c.outcome.is_(None)).order_by(recent.c.ts)
        with self.engine.connect() as conn:
            return [_value(Prediction, r._mapping) for r in conn.execute(query)]

    def bars_after(self, symbol: str, ts: int) -> list[Bar]:
        query = select(*_bar_columns()).where(BarRow.c.symbol == symbol, BarRow.c.ts > ts).order_by(BarRow.c.ts)
        with self.engine.connect() as conn:
            return [Bar(symbol, *row) for row in conn.execute(query)]

    def latest_decisions(self) -> list[Prediction]:
        """Each symbol's newest prediction, with what was decided and why."""
        newest = (
            select(PredictionRow.c.symbol, func.max(PredictionRow.c.ts).label("ts"))
            .group_by(PredictionRow.c.symbol)
            .subquery()
        )
        query = select(PredictionRow).join(
            newest, (PredictionRow.c.symbol == newest.c.symbol) & (PredictionRow.c.ts == newest.c.ts)
        )
        with self.engine.connect() as conn:
            return [_value(Prediction, r._mapping) for r in conn.execute(query)]

    def decision_counts(self) -> list[tuple[str, str, int]]:
        """(decision, reason kind, count): the reason's words before any
        number, so "edge below cost" is one line, not one per value."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(PredictionRow.c.decision, PredictionRow.c.reason)).all()
        counts: dict[tuple[str, str], int] = {}
        for decision, reason in rows:
            key = (decision, reason_kind(reason))
            counts[key] = counts.get(key, 0) + 1
        return sorted(((d, r, n) for (d, r), n in counts.items()), key=lambda row: -row[2])

    def bar_close(self, symbol: str, ts: int) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(select(BarRow.c.close).where(BarRow.c.symbol == symbol, BarRow.c.ts == ts)).scalar()

    def predicted_versions(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(PredictionRow.c.model_version).distinct()).scalars())

    def scored_count(self, version: str) -> int:
        query = (
            select(func.count())
            .select_from(PredictionRow)
            .where(PredictionRow.c.model_version == version, PredictionRow.c.outcome.is_not(None))
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def scored_predictions(self, version: str, limit: int) -> list[tuple[float, int]]:
        """(prob, outcome) of a version's newest scored predictions, oldest first."""
        query = (
            select(PredictionRow.c.prob_up, PredictionRow.c.outcome)
            .where(PredictionRow.c.model_version == version, PredictionRow.c.outcome.is_not(None))
            .order_by(PredictionRow.c.ts.desc(), PredictionRow.c.symbol.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            # outcome IS NOT NULL in the query; the check only tells the type checker
            return [(prob, outcome) for prob, outcome in reversed(conn.execute(query).all()) if outcome is not None]

    def recent_events(self, limit: int) -> list[Event]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(EventRow).order_by(EventRow.c.id.desc()).limit(limit)).all()
        return [_event_of(r._mapping) for r in rows]

    def event_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(EventRow.c.kind, func.count()).group_by(EventRow.c.kind)).all()
        return {kind: n for kind, n in rows}
