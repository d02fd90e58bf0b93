"""The lookahead guard: features, indicators, predictions and signals
computed from bars cut at t equal those computed from all bars, for many t;
a strategy indicator that peeks at the next bar is caught and named."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from helpers import BUNDLED_BTC, write_config
from test_causality import TARGETS
from test_causality import write as write_edge
from test_config_errors import run_bot

from bot.backtest.lookahead import check_lookahead
from bot.config import load_config
from bot.features import FEATURE_NAMES
from bot.market.csv_format import read_ohlcv_csv
from bot.strategy import load_strategy_of
from bot.timeframes import parse_iso_ms

PEEK = textwrap.dedent('''
    import pandas as pd
    from bot.domain import Signal
    from bot.strategy import Strategy


    class Peek(Strategy):
        indicator_lookback = 50

        def indicators(self, bars: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"sma_5": bars.close.rolling(5).mean(),
                                 "next_close": bars.close.shift(-1)})  # the leak

        def decide(self, ctx):
            return Signal(None)
''')


def bars(start: str = "2023-01-01", end: str = "2023-05-01") -> pd.DataFrame:
    frame = read_ohlcv_csv(BUNDLED_BTC)
    keep = (frame.timestamp >= parse_iso_ms(start)) & (frame.timestamp < parse_iso_ms(end))
    return frame[keep].reset_index(drop=True)


def test_the_daemons_features_predictions_and_signals_are_causal(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    report = check_lookahead(cfg, bars(), load_strategy_of(cfg), cuts=60)
    assert report.leak is None
    assert report.cuts >= 50
    # features, then the readings: prob, edge, its error, volatility forecast, regime; then the signal
    assert report.columns == len(FEATURE_NAMES) + 5 + 1


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_target_reads_only_the_past(target: str, tmp_path: Path) -> None:
    cfg = load_config(write_edge(tmp_path, TARGETS[target]))
    report = check_lookahead(cfg, bars(), load_strategy_of(cfg), cuts=25)
    assert report.leak is None, report.leak.describe()


def write_peek(tmp_path: Path) -> Path:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "peek.py").write_text(PEEK)
    config = write_config(tmp_path, {"strategy": {"name": "peek", "path": str(tmp_path / "strategies")}})
    text = config.read_text().replace("enter_above: 0.52", "").replace("exit_below: 0.49", "")
    config.write_text(text.replace("params:", "params: {}"))
    return config


def test_a_leaky_indicator_is_named(tmp_path: Path) -> None:
    cfg = load_config(write_peek(tmp_path))
    report = check_lookahead(cfg, bars(), load_strategy_of(cfg), cuts=10)
    assert report.leak is not None
    assert (report.leak.column, report.leak.where) == ("next_close", "indicator")
    assert report.leak.cut_value is None and report.leak.full_value is not None


def test_bot_check_lookahead_fails_and_names_the_column(tmp_path: Path) -> None:
    config = write_peek(tmp_path)
    leaky = run_bot("check-lookahead", "-c", str(config), "--cuts", "5")
    assert leaky.returncode == 1
    assert "indicator 'next_close' looks ahead" in leaky.stderr
    honest = tmp_path / "honest"
    honest.mkdir()
    clean = run_bot("check-lookahead", "-c", str(write_config(honest)), "--cuts", "5")
    assert clean.returncode == 0, clean.stderr
    assert "no lookahead" in clean.stderr
