"""A replay resumed on a file that is no longer the one it began on: other
bars at the same path (SOL's written over ETH's) were read on as the same
market, a day of them rejected, the rest taken at the other market's price
and an open position marked at it. Now the resume is refused, naming the
bar; a file that only grew resumes as before."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
from helpers import BUNDLED_BTC, replay, rows, write_config
from test_config_errors import assert_refused, run_bot

BARS = 600


def write_market(path: Path, bars: int, scale: float = 1.0, skip: int = 0) -> None:
    with gzip.open(BUNDLED_BTC, "rt") as f:
        frame = pd.read_csv(f, nrows=bars).iloc[skip:]
    frame[["open", "high", "low", "close"]] *= scale
    frame.to_csv(path, index=False)


def test_a_resume_on_other_bars_at_the_same_path_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "market.csv"
    write_market(data, BARS)
    config = write_config(tmp_path, {"replay": {"data": str(data), "start": None, "end": None},
                                     "retrain": {"initial_train_bars": BARS - 10}})  # no model within the bars run
    replay(config, max_bars=300)
    db = tmp_path / "bot.sqlite"
    stored = rows(db, "SELECT COUNT(*), MAX(ts) FROM bars")[0]

    write_market(data, BARS + 100)  # the same market, grown: resumes
    grown = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "10")
    assert grown.returncode == 0, grown.stderr
    assert rows(db, "SELECT COUNT(*) FROM bars")[0][0] == stored[0] + 10

    before = (db.stat().st_size, rows(db, "SELECT COUNT(*), MAX(ts) FROM bars"))
    write_market(data, BARS + 100, scale=0.05)  # another market's prices at the same times
    refused = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "10")
    assert_refused(refused, "replay.data")
    assert "is not the one this run stored (open " in refused.stderr and " where it stored " in refused.stderr
    assert "the file changed since the run began" in refused.stderr
    assert rows(db, "SELECT COUNT(*), MAX(ts) FROM bars") == before[1]

    # Another market's file that begins after the run's newest bar: read on as the same market too.
    write_market(data, 2 * BARS, scale=0.05, skip=stored[0] + 20)
    refused = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "10")
    assert_refused(refused, "replay.data")
    assert "(the file has no bar at that time)" in refused.stderr
    assert rows(db, "SELECT COUNT(*), MAX(ts) FROM bars") == before[1]


def test_a_resume_on_a_file_whose_earlier_rows_changed_is_refused(tmp_path: Path) -> None:
    """Only the newest stored bar was compared: a file whose earlier rows
    had all become 1.5 times as large resumed without a word, its stored
    history and its file disagreeing from then on."""
    data = tmp_path / "market.csv"
    write_market(data, BARS)
    config = write_config(tmp_path, {"replay": {"data": str(data), "start": None, "end": None},
                                     "retrain": {"initial_train_bars": BARS - 10}})
    replay(config, max_bars=300)
    db = tmp_path / "bot.sqlite"
    before = rows(db, "SELECT COUNT(*), MAX(ts) FROM bars")
    frame = pd.read_csv(data)
    frame.loc[:249, ["open", "high", "low", "close"]] *= 1.5  # the newest stored bar (row 299) as it was
    frame.to_csv(data, index=False)
    refused = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "10")
    assert_refused(refused, "replay.data")
    first = pd.Timestamp(int(frame.timestamp[0]), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"its BTC/USDT bar of {first} is not the one this run stored (open " in refused.stderr
    assert rows(db, "SELECT COUNT(*), MAX(ts) FROM bars") == before
