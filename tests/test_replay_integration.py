"""A real replay of ~2,000 bundled bars with a tiny model into a temporary
SQLite file: ledger identities at every bar, warm-up, determinism, resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers import replay, rows, write_config

HOUR = 3_600_000
FILLS = "SELECT order_id, side, qty, price, fee, ts, realized_pnl FROM fills ORDER BY id"


@pytest.fixture(scope="module")
def db(tiny_run: Path) -> Path:
    return tiny_run / "bot.sqlite"


def test_replay_covers_the_slice_and_trades(db: Path) -> None:
    assert rows(db, "SELECT COUNT(*) FROM bars")[0][0] == 1_999  # one gap-free slice of the data
    assert rows(db, "SELECT COUNT(*) FROM equity")[0][0] == 1_999
    versions = rows(db, "SELECT version, status FROM model_versions ORDER BY created_ts")
    assert len(versions) >= 3
    statuses = [s for _, s in versions]
    assert statuses.count("champion") == 1 and set(statuses) <= {"champion", "retired", "rejected"}
    assert rows(db, "SELECT COUNT(*) FROM fills")[0][0] >= 10


def test_cash_plus_positions_equals_equity_every_bar(db: Path) -> None:
    """Cash is rebuilt here from the fills alone, positions are valued at the
    bars' closes, and both must add up to the equity the bot recorded, which
    must also equal initial cash plus realized and unrealized PnL."""
    close = dict(rows(db, "SELECT ts, close FROM bars"))
    held = dict(rows(db, "SELECT ts, qty FROM positions"))
    fills = rows(db, "SELECT ts, side, qty, price, fee FROM fills ORDER BY ts, id")
    cash, i = 10_000.0, 0
    equity = rows(db, "SELECT ts, cash, position_value, equity, realized_pnl, unrealized_pnl FROM equity ORDER BY ts")
    for ts, stored_cash, value, total, realized, unrealized in equity:
        while i < len(fills) and fills[i][0] < ts + HOUR:
            _, side, qty, price, fee = fills[i]
            cash += (-qty * price if side == "buy" else qty * price) - fee
            i += 1
        assert math.isclose(stored_cash, cash, rel_tol=0, abs_tol=1e-6)
        assert math.isclose(value, held[ts] * close[ts], rel_tol=1e-12, abs_tol=1e-9)
        assert math.isclose(total, cash + held[ts] * close[ts], rel_tol=0, abs_tol=1e-6)
        assert math.isclose(total, 10_000 + realized + unrealized, rel_tol=0, abs_tol=1e-6)
        assert cash >= -1e-9  # spot: never borrowed


def test_position_is_the_sum_of_fills(db: Path) -> None:
    fills = rows(db, "SELECT ts, CASE side WHEN 'buy' THEN qty ELSE -qty END FROM fills ORDER BY ts, id")
    held, i = 0.0, 0
    for ts, qty in rows(db, "SELECT ts, qty FROM positions ORDER BY ts"):
        while i < len(fills) and fills[i][0] < ts + HOUR:  # fills stamped within this bar
            held += fills[i][1]
            i += 1
        assert math.isclose(held if held > 1e-12 else 0.0, qty, rel_tol=1e-9, abs_tol=1e-12)
    assert i == len(fills)


def test_no_fill_before_its_order(db: Path) -> None:
    pairs = rows(db, "SELECT f.ts, o.created_ts, o.status FROM fills f JOIN orders o ON o.id = f.order_id")
    assert pairs, "the replay produced no fills"
    for fill_ts, order_ts, status in pairs:
        assert fill_ts >= order_ts
        assert status == "filled"
    orphans = rows(db, "SELECT COUNT(*) FROM fills WHERE order_id NOT IN (SELECT id FROM orders)")
    assert orphans[0][0] == 0


def test_no_prediction_before_warm_up(db: Path) -> None:
    first_model = rows(db, "SELECT MIN(created_ts) FROM model_versions")[0][0]
    first_prediction = rows(db, "SELECT MIN(ts) FROM predictions")[0][0]
    # Predicted bars are ones that closed after the first model existed.
    assert first_prediction + HOUR > first_model
    bar_ts = [ts for (ts,) in rows(db, "SELECT ts FROM bars ORDER BY ts")]
    # 47 bars until every feature is defined, then 30 warm-up vectors and a
    # 12-vector window: no bar before index 47 + 30 + 12 - 1 is ever scored.
    assert first_prediction >= bar_ts[47 + 30 + 12 - 1]
    assert rows(db, "SELECT COUNT(*) FROM predictions WHERE prob_up < 0 OR prob_up > 1")[0][0] == 0


def test_the_same_replay_gives_the_same_fills(db: Path, tmp_path: Path) -> None:
    replay(write_config(tmp_path))
    again = tmp_path / "bot.sqlite"
    assert rows(again, FILLS) == rows(db, FILLS)
    assert rows(again, "SELECT * FROM equity ORDER BY ts") == rows(db, "SELECT * FROM equity ORDER BY ts")
    assert rows(again, "SELECT * FROM predictions ORDER BY ts") == rows(db, "SELECT * FROM predictions ORDER BY ts")


def test_resumed_replay_ends_where_an_uninterrupted_one_does(db: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    replay(config, max_bars=700)  # stops mid-way: before, at and after retrains
    assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM bars")[0][0] == 700
    replay(config, max_bars=611)
    replay(config)
    resumed = tmp_path / "bot.sqlite"
    assert rows(resumed, FILLS) == rows(db, FILLS)
    assert rows(resumed, "SELECT * FROM equity ORDER BY ts") == rows(db, "SELECT * FROM equity ORDER BY ts")
    versions = "SELECT version, status, train_from_ts, train_to_ts, n_train FROM model_versions ORDER BY version"
    assert rows(resumed, versions) == rows(db, versions)


def test_a_resumed_triple_barrier_run_ends_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    """Outcomes waiting for a barrier or the horizon, and the bars a position
    has been held, survive a stop: resumed, the predictions table (with the
    outcomes, realized returns, decisions and reasons) and the fills are the
    uninterrupted run's."""
    from test_causality import TARGETS, write

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    whole.mkdir(), parts.mkdir()
    replay(write(whole, TARGETS["triple_barrier"]))
    config = write(parts, TARGETS["triple_barrier"])
    for stop in (900, 7, 13, 301):  # in the middle of holds and of pending outcomes
        replay(config, max_bars=stop)
    replay(config)
    everything = "SELECT * FROM predictions ORDER BY ts"
    assert rows(parts / "bot.sqlite", everything) == rows(whole / "bot.sqlite", everything)
    assert rows(parts / "bot.sqlite", FILLS) == rows(whole / "bot.sqlite", FILLS)
    held = rows(whole / "bot.sqlite", "SELECT COUNT(*) FROM predictions WHERE reason LIKE 'minimum hold%'")
    assert held[0][0] > 20  # the run did hold positions across the stops' kind of moments


def test_per_bar_work_does_not_grow_with_the_run(tmp_path: Path) -> None:
    """The retrain schedule is read from the store once and after each
    retrain, not every bar (which made a long run's bars slower and slower);
    and a replay writes no log line per bar, only events."""
    from rich.console import Console

    from bot.app.replay import open_replay, run_replay
    from bot.config import load_config
    from bot.logging_setup import configure_logging

    cfg = load_config(write_config(tmp_path))
    configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
    rt = open_replay(cfg)
    reads = []
    versions = rt.store.model_versions
    rt.store.model_versions = lambda: reads.append(1) or versions()
    try:
        outcome = run_replay(rt, max_bars=None, console=Console(quiet=True), progress=False)
    finally:
        rt.store.close()
    retrains = len(rows(tmp_path / "bot.sqlite", "SELECT version FROM model_versions"))
    assert outcome.finished and outcome.bars_this_run > 1_500 and retrains >= 5
    assert len(reads) <= 6 * retrains + 5, f"{len(reads)} reads of the model list for {outcome.bars_this_run} bars"
    lines = (tmp_path / "bot.jsonl").read_text().splitlines()
    assert len(lines) < outcome.bars_this_run / 10 and not any('"event": "bar"' in line for line in lines)
