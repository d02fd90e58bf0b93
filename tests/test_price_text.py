"""Prices of every size read as prices: a coin at 0.000005753 read 0.00
in trades, fills, status, explain and events, its stop included."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import BUNDLED_BTC, RHYTHM, replay, rows, write_config
from test_config_errors import run_bot

from bot.price_text import price_text


@pytest.mark.parametrize(("value", "shown"), [
    (42641.7, "42,641.70"),
    (1.0, "1.00"),
    (0.0, "0.00"),
    (0.5, "0.5000"),
    (0.012345, "0.01235"),
    (0.000005752518805865603, "0.000005753"),
    (-0.00012, "-0.0001200"),
    (1e-12, "0.000000000001000"),
])
def test_four_significant_digits_below_one_unit(value: float, shown: str) -> None:
    assert price_text(value) == shown


def test_an_event_text_keeps_its_ungrouped_form() -> None:
    # Stored event messages of a run stay as they were for prices of a unit or more.
    assert price_text(42641.7, grouped=False) == "42641.70"


def test_a_coin_priced_in_millionths_reads_its_prices_everywhere(tmp_path: Path) -> None:
    frame = pd.read_csv(BUNDLED_BTC)
    frame[["open", "high", "low", "close"]] *= 1e-9  # BTC's 2023 moves at about 0.00002
    data = tmp_path / "tiny.csv"
    frame.to_csv(data, index=False)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "rhythm.py").write_text(RHYTHM)
    config = write_config(tmp_path, {"replay": {"data": str(data)},
                                     "strategy": {"name": "rhythm", "path": str(tmp_path / "strategies")}})
    text = yaml.safe_load(config.read_text())
    text["strategy"]["params"] = {}  # rhythm takes none
    config.write_text(yaml.safe_dump(text))
    replay(config, max_bars=900)
    (entry,), = rows(tmp_path / "bot.sqlite", "SELECT price FROM fills ORDER BY ts LIMIT 1")
    assert entry < 1e-4
    shown = {command: " ".join(run_bot(command, "-c", str(config)).stdout.split())
             for command in ("trades", "status")}
    assert price_text(entry) in shown["trades"] and " 0.00 " not in shown["trades"], shown["trades"]
    assert re.search(r"@ 0\.0000\d+ \(stop loss 0\.0000\d+\)", shown["status"]), shown["status"]
    stops = rows(tmp_path / "bot.sqlite", "SELECT message FROM events WHERE kind = 'stop_loss'")
    assert stops and all(not m.endswith(" 0.00") for (m,) in stops), stops
