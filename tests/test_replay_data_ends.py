"""A replay of two symbols whose files end at different times: the one that
runs out first is reported once, as `data_ended`, with the position it
keeps, and a resumed run does not report it again."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from helpers import BUNDLED_BTC, replay, rows, write_config

HOUR = 3_600_000
DELAY_MS = 5_000  # schedule.bar_delay_seconds of the test config
ALT_LAST = pd.Timestamp("2023-03-10T12:00", tz="UTC").value // 1_000_000  # the test config runs to 2023-03-25


def config_with_an_early_end(directory: Path) -> Path:
    bars = pd.read_csv(BUNDLED_BTC)
    alt = directory / "ALT_USDT-1h.csv.gz"
    with gzip.open(alt, "wt") as out:
        bars[bars.timestamp <= ALT_LAST].to_csv(out, index=False)
    return write_config(directory, {
        "symbols": ["BTC/USDT", "ALT/USDT"],
        "replay": {"data": {"BTC/USDT": str(BUNDLED_BTC), "ALT/USDT": str(alt)}},
    })


def ended(db: Path) -> list[tuple]:
    return rows(db, "SELECT ts, symbol FROM events WHERE kind = 'data_ended'")


@pytest.mark.parametrize("cuts", [
    pytest.param([], id="one-run"),
    pytest.param([1_200], id="resumed-before-the-end"),
    pytest.param([3_600], id="resumed-after-the-end"),
])
def test_a_symbol_whose_file_ends_first_is_reported_once(tmp_path: Path, cuts: list[int]) -> None:
    config = config_with_an_early_end(tmp_path)
    for max_bars in cuts:
        replay(config, max_bars=max_bars)
    replay(config)
    db = tmp_path / "bot.sqlite"
    assert ended(db) == [(ALT_LAST + HOUR + DELAY_MS, "ALT/USDT")]
    [(message,)] = rows(db, "SELECT message FROM events WHERE kind = 'data_ended'")
    assert message.startswith("replay data ends at 2023-03-10T12:00:00Z while other symbols go on; ")
    assert rows(db, "SELECT MAX(ts) FROM bars WHERE symbol = 'ALT/USDT'") == [(ALT_LAST,)]
    assert rows(db, "SELECT MAX(ts) FROM bars WHERE symbol = 'BTC/USDT'")[0][0] > ALT_LAST + 100 * HOUR
