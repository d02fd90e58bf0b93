"""Tests for bot.store.Store on a temporary SQLite file and on a database
of the tests' own PostgreSQL server: what commit_step writes, that a
failing step writes nothing at all, and (SQLite) WAL mode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import rows_at as rows
from sqlalchemy.exc import IntegrityError

from bot.domain import Bar, Event, Fill, Order, OrderKind, OrderStatus, Prediction, Side
from bot.ledger import EquityPoint, Position
from bot.store import StepRecord, Store

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
T0 = 1_699_999_200_000
TABLES = ("bars", "predictions", "orders", "fills", "positions", "equity", "events")


def counts(db_url: str) -> dict[str, int]:
    return {t: rows(db_url, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}


@pytest.fixture
def db(db_url: str) -> str:
    """The store's database, on each backend (conftest's db_url)."""
    return db_url


@pytest.fixture
def store(db: str):
    s = Store(db)
    yield s
    s.close()


def bar(ts: int, symbol: str = BTC, close: float = 100.0) -> Bar:
    return Bar(symbol, ts, close - 1, close + 2, close - 3, close, 12.5)


def first_step() -> StepRecord:
    """Bar T0: both symbols seen, a prediction, and an entry order resting."""
    entry = Order(f"{BTC}:{T0}:entry", BTC, Side.BUY, OrderKind.MARKET, 2.0, T0 + HOUR + 5_000, "entry")
    return StepRecord(
        ts=T0,
        bars=[bar(T0), bar(T0, ETH, 20.0)],
        predictions=[Prediction(BTC, T0, "v1", 0.71, expected_edge=0.004, decision="enter",
                                reason="edge above cost: +0.40%")],
        new_orders=[entry],
        positions=[(Position(BTC), None)],
        equity=EquityPoint(T0, 1_000.0, 0.0, 1_000.0, 0.0, 0.0, 0.0),
    )


def second_step(ts: int = T0 + HOUR, bars: list[Bar] | None = None, events: list[Event] | None = None,
                equity_ts: int | None = None) -> StepRecord:
    """Bar T0+1h: the entry fills, a stop starts resting, a stop event is logged."""
    entry = Order(f"{BTC}:{T0}:entry", BTC, Side.BUY, OrderKind.MARKET, 2.0, T0 + HOUR + 5_000, "entry",
                  status=OrderStatus.FILLED, closed_ts=T0 + HOUR + 5_000)
    stop = Order(f"{BTC}:{ts + 5_000}:stop", BTC, Side.SELL, OrderKind.STOP, 2.0, ts + 5_000, "stop_loss",
                 stop_price=97.0)
    fill = Fill(entry.id, BTC, Side.BUY, 2.0, 100.05, 0.2001, T0 + HOUR + 5_000)
    return StepRecord(
        ts=ts,
        bars=bars if bars is not None else [bar(ts, close=101.0)],
        predictions=[Prediction(BTC, ts, "v1", 0.55, decision="hold", reason="minimum hold: 1 of 4 bars")],
        new_orders=[stop],
        closed_orders=[entry],
        fills=[(fill, -0.2001)],
        positions=[(Position(BTC, qty=2.0, avg_entry=100.05, mark=101.0, realized_pnl=-0.2001), 97.0)],
        equity=EquityPoint(equity_ts if equity_ts is not None else ts, 799.6999, 202.0, 1_001.6999,
                           -0.2001, 1.9, 0.2001),
        events=events if events is not None else [
            Event(ts, "note", "entry filled", symbol=BTC, data={"price": 100.05, "qty": 2.0})],
    )


def test_a_sqlite_database_is_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    store.close()
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_every_connection_to_a_sqlite_file_checkpoints_at_10000_pages(tmp_path: Path) -> None:
    """The step writer's connection and the store's own: a checkpoint run by
    either copies the same pages back, so both wait for a large WAL."""
    store = Store(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    try:
        assert store._writer.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    finally:
        store.close()


def test_times_in_ms_fit_the_columns_of_every_backend(store: Store, db: str) -> None:
    """Epoch milliseconds overflow 32-bit integers: PostgreSQL's INTEGER would refuse them."""
    store.commit_step(first_step())
    assert rows(db, "SELECT MAX(ts) FROM bars") == [(T0,)]


def test_commit_step_writes_every_row(store: Store, db: str) -> None:
    store.commit_step(first_step())
    store.commit_step(second_step())
    t1 = T0 + HOUR
    assert counts(db) == {"bars": 3, "predictions": 2, "orders": 2, "fills": 1, "positions": 2,
                          "equity": 2, "events": 1}
    assert rows(db, f"SELECT open, high, low, close, volume FROM bars WHERE symbol='{ETH}' AND ts={T0}") == [
        (19.0, 22.0, 17.0, 20.0, 12.5)]
    assert rows(db, f"SELECT model_version, prob_up, expected_edge, decision, reason FROM predictions "
                    f"WHERE ts={T0}") == [("v1", 0.71, 0.004, "enter", "edge above cost: +0.40%")]
    assert rows(db, "SELECT order_id, symbol, side, qty, price, fee, ts, realized_pnl FROM fills") == [
        (f"{BTC}:{T0}:entry", BTC, "buy", 2.0, 100.05, 0.2001, T0 + HOUR + 5_000, -0.2001)]
    assert rows(db, f"SELECT qty, avg_entry, mark, realized_pnl, stop_price FROM positions WHERE ts={t1}") == [
        (2.0, 100.05, 101.0, -0.2001, 97.0)]
    assert rows(db, f"SELECT cash, position_value, equity, realized_pnl, unrealized_pnl, fees_paid "
                    f"FROM equity WHERE ts={t1}") == [(799.6999, 202.0, 1_001.6999, -0.2001, 1.9, 0.2001)]
    [(ts, level, kind, symbol, message, data)] = rows(
        db, "SELECT ts, level, kind, symbol, message, data_json FROM events")
    assert (ts, level, kind, symbol, message) == (t1, "info", "note", BTC, "entry filled")
    assert json.loads(data) == {"price": 100.05, "qty": 2.0}


def test_closed_orders_update_the_stored_order(store: Store, db: str) -> None:
    store.commit_step(first_step())
    entry_id = f"{BTC}:{T0}:entry"
    assert rows(db, f"SELECT status, closed_ts FROM orders WHERE id='{entry_id}'") == [("open", None)]
    store.commit_step(second_step())
    assert rows(db, f"SELECT side, kind, qty, status, closed_ts FROM orders WHERE id='{entry_id}'") == [
        ("buy", "market", 2.0, "filled", T0 + HOUR + 5_000)]
    assert rows(db, "SELECT kind, stop_price, status FROM orders WHERE kind='stop'") == [("stop", 97.0, "open")]
    assert [o.id for o in store.open_orders()] == [f"{BTC}:{T0 + HOUR + 5_000}:stop"]


def test_step_with_an_existing_bar_writes_nothing(store: Store, db: str) -> None:
    """The new bar goes in before the duplicate fails: it must be rolled back."""
    store.commit_step(first_step())
    before = counts(db)
    step = second_step(bars=[bar(T0 + HOUR, close=101.0), bar(T0)])  # bar(T0) is stored already
    with pytest.raises(IntegrityError):
        store.commit_step(step)
    assert counts(db) == before
    assert rows(db, f"SELECT COUNT(*) FROM bars WHERE ts={T0 + HOUR}") == [(0,)]


def test_step_failing_on_its_equity_row_writes_nothing(store: Store, db: str) -> None:
    """Bars, predictions, orders, the order update, fills and positions are all
    written before the equity row; its duplicate key must undo every one."""
    store.commit_step(first_step())
    before = counts(db)
    with pytest.raises(IntegrityError):
        store.commit_step(second_step(equity_ts=T0))  # T0 already has an equity row
    assert counts(db) == before
    assert rows(db, f"SELECT status, closed_ts FROM orders WHERE id='{BTC}:{T0}:entry'") == [("open", None)]
    assert store.last_bar_ts(BTC) == T0
    assert store.latest_equity().ts == T0


def test_step_failing_on_its_last_write_writes_nothing(store: Store, db: str) -> None:
    """Events are written last; one that cannot be serialised must undo the equity row too."""
    store.commit_step(first_step())
    before = counts(db)
    bad_event = Event(T0 + HOUR, "note", "unserialisable", data={"x": object()})
    with pytest.raises(TypeError):
        store.commit_step(second_step(events=[bad_event]))
    assert counts(db) == before


def test_store_keeps_working_after_a_failed_step(store: Store, db: str) -> None:
    store.commit_step(first_step())
    with pytest.raises(IntegrityError):
        store.commit_step(second_step(equity_ts=T0))
    store.commit_step(second_step())
    assert counts(db)["fills"] == 1 and counts(db)["equity"] == 2


def test_reopened_store_reads_what_was_committed(store: Store, db: str) -> None:
    store.commit_step(first_step())
    store.commit_step(second_step())
    store.close()
    again = Store(db)
    try:
        assert again.last_bar_ts(BTC) == T0 + HOUR
        assert again.last_bar_ts(ETH) == T0
        assert [b.close for b in again.iter_bars(BTC)] == [100.0, 101.0]
        [pos] = again.latest_positions()
        assert (pos.ts, pos.qty, pos.stop_price) == (T0 + HOUR, 2.0, 97.0)
    finally:
        again.close()


def test_closes_since_reads_from_each_symbols_last_close_before_the_start(store: Store, db: str) -> None:
    """What a buy-and-hold curve from `start` needs: every close from
    `start` on, and each symbol's newest one before, to carry forward."""
    store.commit_step(StepRecord(ts=T0, bars=[bar(T0), bar(T0, ETH, 20.0)]))
    for k in (1, 2, 3):
        store.commit_step(StepRecord(ts=T0 + k * HOUR, bars=[bar(T0 + k * HOUR, close=100.0 + k)]))
    closes = store.closes_since(T0 + 2 * HOUR)  # ETH's newest close at or before it is at T0
    assert sorted(zip(closes.ts, closes.symbol, closes.close, strict=True)) == sorted(
        [(T0, BTC, 100.0), (T0, ETH, 20.0), (T0 + HOUR, BTC, 101.0), (T0 + 2 * HOUR, BTC, 102.0),
         (T0 + 3 * HOUR, BTC, 103.0)])
    assert list(store.closes_since(T0 + 3 * HOUR).ts) == [T0, T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert list(store.closes_since(T0 - HOUR).ts) == [T0, T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    store.commit_step(StepRecord(ts=T0 + 4 * HOUR, bars=[bar(T0 + 4 * HOUR), bar(T0 + 4 * HOUR, ETH, 21.0)]))
    newest = store.closes_since(T0 + 4 * HOUR)  # both symbols have a close at the start itself
    assert sorted(zip(newest.ts, newest.symbol, strict=True)) == [(T0 + 4 * HOUR, BTC), (T0 + 4 * HOUR, ETH)]


def test_requests_made_at_once_each_get_a_number_of_their_own(db: str) -> None:
    """Operator requests from the API's threads and another process's CLI
    at the same time: no count is lost and no number given twice (read then
    write, 16 pauses at once were numbered 1, 2, 2, 2, 3, ...)."""
    import threading

    from bot.app.operator_requests import ORDER_KEY, PAUSE_KEY, RESUME_KEY, request

    stores = [Store(db), Store(db)]  # a server's, shared by its threads, and a CLI's
    numbers: dict[str, list[int]] = {PAUSE_KEY: [], RESUME_KEY: []}

    def make(store: Store, key: str) -> None:
        for _ in range(15):
            numbers[key].append(request(store, key, "a test"))

    threads = [threading.Thread(target=make, args=(stores[i % 2], key))
               for i, key in enumerate([PAUSE_KEY, PAUSE_KEY, RESUME_KEY, PAUSE_KEY])]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(numbers[PAUSE_KEY]) == list(range(1, 46)) and sorted(numbers[RESUME_KEY]) == list(range(1, 16))
        assert stores[0].get_meta(PAUSE_KEY) == "45" and stores[1].get_meta(ORDER_KEY) == "60"
        assert stores[0].get_meta(f"{PAUSE_KEY}_origin") == "a test"
    finally:
        for s in stores:
            s.close()
