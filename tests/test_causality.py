"""Causality of the whole daemon path: appending future bars never changes
a past feature, model or prediction. A replay cut at bar T and the full
replay must agree on everything up to T, for every target: the horizon and
triple-barrier labels read bars after t by design, and must never do so
before those bars exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, replay, rows, write_config

CUT_END = "2023-03-01T00:00:00"  # about 1,400 bars into the 2,000-bar slice
# No margin and no allowance for the edge's error: a tiny model on 2,000 bars
# must still enter and exit, so that decisions and fills are compared too.
EDGE = {"name": "edge", "path": str(REPO / "strategies"), "params": {"margin_bps": 0, "confidence": 0}}
TARGETS = {
    "horizon_6": {"model": {"target": "horizon", "horizon_bars": 6}, "strategy": EDGE},
    "triple_barrier": {"model": {"target": "triple_barrier", "horizon_bars": 12},
                       "risk": {"take_profit_pct": 0.02}, "strategy": EDGE},
    "horizon_regression": {"model": {"target": "horizon", "head": "regression", "horizon_bars": 4},
                           "strategy": EDGE},
    # Trained with its mirror image too: the image is made of past bars only.
    "triple_barrier_mirrored": {"model": {"target": "triple_barrier", "horizon_bars": 12, "mirror": True},
                                "risk": {"take_profit_pct": 0.02}, "strategy": EDGE},
}
PREDICTIONS = ("SELECT ts, model_version, prob_up, predicted_return, expected_edge, volatility_forecast, regime, "
               "decision, reason FROM predictions WHERE ts <= {last} ORDER BY ts")


def write(directory: Path, overrides: dict) -> Path:
    path = write_config(directory, overrides)
    if "strategy" in overrides:  # the edge strategy has other parameters than the tiny run's
        text = path.read_text().replace("enter_above: 0.52", "").replace("exit_below: 0.49", "")
        path.write_text(text)
    return path


def assert_same_up_to_the_cut(cut: Path, full: Path) -> None:
    last = rows(cut, "SELECT MAX(ts) FROM bars")[0][0]
    assert rows(full, "SELECT MAX(ts) FROM bars")[0][0] > last  # the full run really saw more

    predictions = PREDICTIONS.format(last=last)
    assert len(rows(cut, predictions)) > 300
    assert rows(cut, predictions) == rows(full, predictions)
    # An outcome the cut run already knew is the one the full run knows.
    known = f"SELECT ts, outcome, realized_return FROM predictions WHERE outcome IS NOT NULL AND ts <= {last}"
    cut_known = rows(cut, known)
    assert len(cut_known) > 300 and set(cut_known) <= set(rows(full, known))

    models = f"SELECT version, train_from_ts, train_to_ts, n_train FROM model_versions WHERE created_ts <= {last}"
    assert rows(cut, models) == rows(full, models)

    # Fills up to the cut, except orders decided on the cut's last bar, which
    # the cut run never gets to fill.
    fills = f"SELECT order_id, side, qty, price, fee, ts FROM fills WHERE ts <= {last} ORDER BY id"
    assert rows(cut, fills) == rows(full, fills)


def test_future_bars_change_nothing_before_them(tiny_run: Path, tmp_path: Path) -> None:
    replay(write_config(tmp_path, {"replay": {"end": CUT_END}}))
    assert_same_up_to_the_cut(tmp_path / "bot.sqlite", tiny_run / "bot.sqlite")


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_future_bars_change_nothing_before_them_for_every_target(target: str, tmp_path: Path) -> None:
    cut_dir, full_dir = tmp_path / "cut", tmp_path / "full"
    cut_dir.mkdir(), full_dir.mkdir()
    replay(write(cut_dir, {**TARGETS[target], "replay": {"end": CUT_END}}))
    replay(write(full_dir, TARGETS[target]))
    assert_same_up_to_the_cut(cut_dir / "bot.sqlite", full_dir / "bot.sqlite")
    decisions = {d for (d,) in rows(full_dir / "bot.sqlite", "SELECT DISTINCT decision FROM predictions")}
    assert {"enter", "abstain"} <= decisions or {"enter", "hold"} <= decisions
