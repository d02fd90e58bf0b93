"""Tests for bot.features: streaming vs batch agreement, causality and hand-checked values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.features import FEATURE_NAMES, FeatureState
from bot.features.batch import compute_features
from bot.features.spec import FIRST_DEFINED_INDEX

DATA_FILE = Path(__file__).parent.parent / "data" / "BTC_USDT-1h.csv.gz"
TOLERANCE = 1e-9
N_BARS = 120  # long enough for every feature to be defined on the synthetic series


def incremental_frame(close: pd.Series, volume: pd.Series) -> pd.DataFrame:
    """Run FeatureState over a series; None vectors become NaN rows."""
    state = FeatureState()
    empty = (math.nan,) * len(FEATURE_NAMES)
    rows = []
    for c, v in zip(close.tolist(), volume.tolist()):
        vector = state.update(c, v)
        assert vector is None or len(vector) == len(FEATURE_NAMES)
        rows.append(empty if vector is None else vector)
    assert state.bars_seen == len(close)
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES), index=close.index)


def both(close: list[float], volume: list[float] | None = None) -> list[pd.DataFrame]:
    """Batch and incremental features for small synthetic inputs."""
    close_s = pd.Series(close, dtype=float)
    volume_s = pd.Series(volume if volume is not None else [1.0 + i % 3 for i in range(len(close))], dtype=float)
    return [compute_features(close_s, volume_s), incremental_frame(close_s, volume_s)]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return pd.read_csv(DATA_FILE)


@pytest.fixture(scope="module")
def batch(bars: pd.DataFrame) -> pd.DataFrame:
    return compute_features(bars["close"], bars["volume"])


@pytest.fixture(scope="module")
def streamed(bars: pd.DataFrame) -> pd.DataFrame:
    return incremental_frame(bars["close"], bars["volume"])


# --- (a) the two implementations agree on real data ---------------------------------


def test_real_data_shape(bars: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert len(bars) == 31_433
    assert tuple(batch.columns) == FEATURE_NAMES
    assert batch.index.equals(bars.index)


def test_undefined_on_same_bars(batch: pd.DataFrame, streamed: pd.DataFrame) -> None:
    assert (batch.isna() == streamed.isna()).all().all()
    # Whole rows are either defined or undefined.
    assert batch.isna().all(axis=1).equals(batch.isna().any(axis=1))


def test_first_defined_index(batch: pd.DataFrame, streamed: pd.DataFrame) -> None:
    assert FIRST_DEFINED_INDEX == 96  # ret_96 needs 97 closes
    for frame in (batch, streamed):
        defined = frame.notna().all(axis=1).to_numpy()
        assert not defined[:FIRST_DEFINED_INDEX].any()
        assert defined[FIRST_DEFINED_INDEX:].all()


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_values_agree(batch: pd.DataFrame, streamed: pd.DataFrame, name: str) -> None:
    diff = (batch[name] - streamed[name]).abs().iloc[FIRST_DEFINED_INDEX:]
    assert np.isfinite(diff).all()
    assert diff.max() <= TOLERANCE


def test_features_are_not_degenerate(batch: pd.DataFrame) -> None:
    # Guards the agreement test against two implementations that are both trivially constant.
    defined = batch.iloc[FIRST_DEFINED_INDEX:]
    assert (defined.std() > 0).all()
    assert defined["rsi_14"].between(0, 100).all()
    assert (defined["volatility_24"] >= 0).all()


# --- (b) causality ------------------------------------------------------------------


@pytest.mark.parametrize("t", [FIRST_DEFINED_INDEX, 100, 5_000, 20_000, 31_431])
def test_batch_is_causal(bars: pd.DataFrame, batch: pd.DataFrame, t: int) -> None:
    cut = bars.iloc[: t + 1]
    partial = compute_features(cut["close"], cut["volume"])
    pd.testing.assert_frame_equal(partial, batch.iloc[: t + 1], check_exact=False, rtol=0, atol=1e-12)


@pytest.mark.parametrize("t", [FIRST_DEFINED_INDEX, 3_000])
def test_future_bars_do_not_leak(bars: pd.DataFrame, batch: pd.DataFrame, t: int) -> None:
    scrambled = bars.copy()
    scrambled.loc[t + 1 :, "close"] *= 3.0
    scrambled.loc[t + 1 :, "volume"] *= 5.0
    changed = compute_features(scrambled["close"], scrambled["volume"])
    pd.testing.assert_frame_equal(changed.iloc[: t + 1], batch.iloc[: t + 1], check_exact=False, rtol=0, atol=1e-12)
    assert not np.allclose(changed["ret_1"].iloc[t + 1], batch["ret_1"].iloc[t + 1])


# --- (c) hand-checked cases -----------------------------------------------------------


def test_rsi_is_100_on_rising_series() -> None:
    for frame in both([100.0 + 0.5 * i for i in range(N_BARS)]):
        rsi = frame["rsi_14"].iloc[FIRST_DEFINED_INDEX:]
        assert (rsi == 100.0).all()


def test_rsi_is_0_on_falling_series() -> None:
    for frame in both([500.0 - 2.0 * i for i in range(N_BARS)]):
        rsi = frame["rsi_14"].iloc[FIRST_DEFINED_INDEX:]
        assert rsi.abs().max() < 1e-12


def test_log_returns() -> None:
    # Flat at 100, then 110, 121, 99 on the last three bars (the last one is index 97).
    close = [100.0] * 95 + [110.0, 121.0, 99.0]
    for frame in both(close):
        last = frame.iloc[-1]
        assert last["ret_1"] == pytest.approx(math.log(99 / 121), abs=1e-15)
        assert last["ret_4"] == pytest.approx(math.log(99 / 100), abs=1e-15)
        assert last["ret_24"] == pytest.approx(math.log(99 / 100), abs=1e-15)
        assert last["ret_96"] == pytest.approx(math.log(99 / 100), abs=1e-15)
        before = frame.iloc[-2]
        assert before["ret_1"] == pytest.approx(math.log(1.1), abs=1e-15)
        assert before["ret_4"] == pytest.approx(math.log(1.21), abs=1e-15)


def test_alternating_prices() -> None:
    # 100, 200, 100, ...: ret_1 = +-log 2, even lags cancel, and 24 returns of +-log 2
    # (12 each) have mean 0 and sample variance 24 log(2)^2 / 23.
    close = [100.0 if i % 2 == 0 else 200.0 for i in range(N_BARS)]
    expected_vol = math.log(2) * math.sqrt(24 / 23)
    for frame in both(close):
        defined = frame.iloc[FIRST_DEFINED_INDEX:]
        assert np.allclose(defined["ret_1"].abs(), math.log(2), rtol=0, atol=1e-15)
        assert np.allclose(defined[["ret_4", "ret_24", "ret_96"]], 0.0, rtol=0, atol=1e-15)
        assert np.allclose(defined["volatility_24"], expected_vol, rtol=0, atol=1e-12)


def test_volume_z_of_constant_volume_is_zero() -> None:
    # 0.1 is not exactly representable, so a naive mean/std leaves rounding noise behind.
    for volume_value in (0.1, 7.0):
        close = [100.0 + i for i in range(N_BARS)]
        for frame in both(close, [volume_value] * N_BARS):
            z = frame["volume_z_48"].iloc[FIRST_DEFINED_INDEX:]
            assert (z == 0.0).all()


def test_volume_z_hand_computed() -> None:
    # Volumes 1..48 last: mean 24.5; the sample std of 1..n is sqrt(n (n + 1) / 12) = 14 for n = 48.
    # The 49 bars before them make every feature defined on the last bar.
    volume = [1000.0] * 49 + [float(i) for i in range(1, 49)]
    for frame in both([100.0] * 97, volume):
        assert frame["volume_z_48"].iloc[-1] == pytest.approx(23.5 / 14.0, abs=1e-12)


def test_constant_prices() -> None:
    for frame in both([250.0] * N_BARS):
        defined = frame.iloc[FIRST_DEFINED_INDEX:]
        assert (defined["volatility_24"] == 0.0).all()
        assert (defined["rsi_14"] == 50.0).all()
        flat = ["ret_1", "ret_4", "ret_24", "ret_96", "macd_hist", "sma_slope", "ema_slope", "close_sma_ratio"]
        assert np.allclose(defined[flat], 0.0, rtol=0, atol=1e-15)


def test_geometric_growth_slopes() -> None:
    # close_t = 100 * g^t: every 24-bar window is the previous one scaled by g, so the SMA grows by g per bar.
    g = 1.01
    close = [100.0 * g**i for i in range(N_BARS)]
    for frame in both(close):
        defined = frame.iloc[FIRST_DEFINED_INDEX:]
        assert np.allclose(defined["sma_slope"], g - 1, rtol=0, atol=1e-12)
        # close / SMA of the last 24 closes = 24 g^23 (g - 1) / (g^24 - 1).
        ratio = math.log(24 * g**23 * (g - 1) / (g**24 - 1))
        assert np.allclose(defined["close_sma_ratio"], ratio, rtol=0, atol=1e-12)


def test_update_returns_none_during_warm_up() -> None:
    state = FeatureState()
    outputs = [state.update(100.0 + i, 1.0 + i) for i in range(FIRST_DEFINED_INDEX + 1)]
    assert all(v is None for v in outputs[:-1])
    assert outputs[-1] is not None
    assert state.bars_seen == FIRST_DEFINED_INDEX + 1
