"""Weekly bars open on Monday 00:00 UTC on exchanges; the epoch was a
Thursday. Counted from the epoch, every weekly candle was refused ("900 of
its 900 bars do not open on a whole 10080-minute boundary")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from helpers import replay, rows, write_config

from bot.domain import Bar
from bot.market.download import closed_grid
from bot.market.validation import bar_problem
from bot.timeframes import grid_floor, parse_iso_ms, timeframe_ms

WEEK = timeframe_ms("1w")
MONDAY = parse_iso_ms("2005-01-03")


def test_a_monday_opens_a_week_and_a_thursday_does_not() -> None:
    bar = Bar("X/USDT", MONDAY, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert bar_problem(bar, WEEK, None) is None
    thursday = Bar("X/USDT", MONDAY + 3 * 86_400_000, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert bar_problem(thursday, WEEK, None) == "timestamp not aligned to the timeframe"
    assert grid_floor(MONDAY + 5 * 86_400_000, WEEK) == MONDAY
    # A download of weeks asks for Mondays, and days stay on midnights.
    assert closed_grid(MONDAY - 1, MONDAY + 3 * WEEK, MONDAY + 10 * WEEK, WEEK)[:2] == range(
        MONDAY, MONDAY + 2 * WEEK, WEEK)
    day = timeframe_ms("1d")
    assert closed_grid(MONDAY + 1, MONDAY + 3 * day, MONDAY + 10 * day, day)[0] == MONDAY + day


def test_a_replay_of_monday_weeks_runs_and_trains(tmp_path: Path) -> None:
    n = 320
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.05, n)))
    opens = np.concatenate([[100.0], closes[:-1]])
    frame = pd.DataFrame({
        "timestamp": MONDAY + WEEK * np.arange(n),
        "open": opens, "high": np.maximum(opens, closes) * 1.01, "low": np.minimum(opens, closes) * 0.99,
        "close": closes, "volume": 1_000.0,
    })
    data = tmp_path / "weeks.csv"
    frame.to_csv(data, index=False)
    config = write_config(tmp_path, {
        "timeframe": "1w", "replay": {"data": str(data), "start": None, "end": None},
        "retrain": {"initial_train_bars": 200, "train_window_bars": 200, "every_days": 364},
    })
    replay(config)
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT COUNT(*), MIN(ts) FROM bars") == [(n, MONDAY)]
    assert rows(db, "SELECT COUNT(*) FROM model_versions")[0][0] >= 1
    assert rows(db, "SELECT COUNT(*) FROM predictions")[0][0] > 0
