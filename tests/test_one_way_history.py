"""Markets whose newest windows all went one way: a flat stretch (one
price, no volume: a halted or delisted coin, a stablecoin) or a steady
trend as long as the validation slice. Every label there is the same."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import BUNDLED_BTC, replay, rows, write_config

from bot.model.calibration import fit_calibration
from bot.model.regime import RegimeModel

HOUR = 3_600_000


@pytest.mark.parametrize("form", ["auto", "platt", "temperature"])
@pytest.mark.parametrize("outcome", [0, 1])
def test_a_slice_of_one_outcome_is_calibrated_by_temperature(form: str, outcome: int) -> None:
    """Platt's intercept has no finite fit there; the slope has its prior."""
    prob = np.random.default_rng(3).uniform(0.3, 0.7, 200)
    calibration, used = fit_calibration(prob, np.full(200, outcome), form, gap=4)
    assert used == "temperature"
    assert np.all(np.isfinite(calibration.apply(prob)))


def flat_from(start: int, bars: int, directory: Path) -> Path:
    """The bundled BTC bars from 2023, with `bars` of them from `start` on
    frozen at the close before (identical OHLC, zero volume)."""
    frame = pd.read_csv(BUNDLED_BTC)
    frame = frame[frame.timestamp >= 1_672_531_200_000].reset_index(drop=True)  # 2023-01-01
    frozen = frame.close.iloc[start - 1]
    stretch = slice(start, start + bars - 1)
    frame.loc[stretch, ["open", "high", "low", "close"]] = frozen
    frame.loc[stretch, "volume"] = 0.0
    path = directory / "flat.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_replay_whose_validation_windows_are_all_flat_trains_and_goes_on(tmp_path: Path, monkeypatch) -> None:
    """It stopped at that retrain with "calibration needs windows of both
    outcomes", and again at the same bar every time it was resumed."""
    fit = RegimeModel.fit

    def never_leaves_calm(closes, seed):
        # What flat stretches did to the regime companion in a user's run:
        # a calm state it never leaves, an expected stay of infinitely many bars.
        fitted = fit(closes, seed)
        return fitted and (fitted[0], {**fitted[1], "regime_calm_bars": math.inf})

    monkeypatch.setattr(RegimeModel, "fit", never_leaves_calm)
    data = flat_from(start=520, bars=320, directory=tmp_path)  # the first model's newest windows, and more
    config = write_config(tmp_path, {"replay": {"data": str(data)}, "model": {"calibrate": True}})
    replay(config, max_bars=900)
    db = tmp_path / "bot.sqlite"
    versions = rows(db, "SELECT json_extract(metrics_json, '$.calibration') FROM model_versions")
    assert versions and versions[0] == ("temperature",)
    # Every stored figure is valid JSON: the infinite stay was written as
    # Infinity, which SQLite's JSON functions and strict readers refuse.
    assert rows(db, "SELECT COUNT(*) FROM model_versions WHERE NOT json_valid(metrics_json)") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM events WHERE data_json IS NOT NULL AND NOT json_valid(data_json)") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM predictions")[0][0] > 0
