"""Causality of the whole daemon path: appending future bars never changes
a past feature, model or prediction. A replay cut at bar T and the full
replay must agree on everything up to T."""

from __future__ import annotations

from pathlib import Path

from conftest import replay, rows, write_config

CUT_END = "2023-03-01T00:00:00"  # about 1,400 bars into the 2,000-bar slice


def test_future_bars_change_nothing_before_them(tiny_run: Path, tmp_path: Path) -> None:
    replay(write_config(tmp_path, {"replay": {"end": CUT_END}}))
    cut, full = tmp_path / "bot.sqlite", tiny_run / "bot.sqlite"
    last = rows(cut, "SELECT MAX(ts) FROM bars")[0][0]
    assert rows(full, "SELECT MAX(ts) FROM bars")[0][0] > last  # the full run really saw more

    predictions = f"SELECT ts, model_version, prob_up, signal FROM predictions WHERE ts <= {last} ORDER BY ts"
    assert len(rows(cut, predictions)) > 300
    assert rows(cut, predictions) == rows(full, predictions)

    models = f"SELECT version, train_from_ts, train_to_ts, n_train FROM model_versions WHERE created_ts <= {last}"
    assert rows(cut, models) == rows(full, models)

    # Fills up to the cut, except orders decided on the cut's last bar, which
    # the cut run never gets to fill.
    fills = f"SELECT order_id, side, qty, price, fee, ts FROM fills WHERE ts <= {last} ORDER BY id"
    assert rows(cut, fills) == rows(full, fills)
