"""The mirror image of a market (bot/model/mirror.py) and training on it:
features read as the mirrored prices' own features would, labels come
from the mirrored prices, validation stays the real market's, and a model
trained with its mirror learns no drift from a year that only drifted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.config import ModelConfig
from bot.features import FEATURE_NAMES
from bot.features.batch import compute_features
from bot.model.dataset import SymbolSeries, build_training_set
from bot.model.factory import new_model
from bot.model.mirror import mirror_series, mirror_vectors
from bot.model.predictor import edge_level_error, edge_standard_error
from bot.model.targets import Target

HOUR = 3_600_000
EXACT = ("ret_1", "ret_4", "ret_24", "volatility_24", "volume_z_48")  # built on log returns or volume only


def market(n: int, seed: int, drift: float = 0.0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    close = pd.Series(20_000 * np.exp(np.cumsum(rng.normal(drift, 0.008, n))))
    return close, pd.Series(rng.lognormal(3.0, 0.4, n))


def series_of(close: pd.Series, volume: pd.Series) -> SymbolSeries:
    features = compute_features(close, volume).dropna()
    rows = features.index.to_numpy()
    c = close.to_numpy()[rows]
    o = np.concatenate([[c[0]], c[:-1]])
    ohlc = np.column_stack([o, np.maximum(o, c) * 1.002, np.minimum(o, c) * 0.998, c])
    return SymbolSeries(1_700_000_000_000 + rows * HOUR, c, features.to_numpy(), ohlc)


def test_mirror_readings_match_the_features_of_the_mirrored_prices() -> None:
    close, volume = market(3_000, seed=1)
    real = compute_features(close, volume).dropna()
    mirrored_prices = compute_features(close.iloc[0] ** 2 / close, volume).dropna()
    read = mirror_vectors(real.to_numpy())
    for i, name in enumerate(FEATURE_NAMES):
        error = np.abs(read[:, i] - mirrored_prices[name].to_numpy())
        if name in EXACT:
            assert error.max() < 1e-12, name
        else:  # price-based: first order in the bar's move
            spread = real[name].std()
            assert np.median(error) < 0.05 * spread, name
            assert np.corrcoef(read[:, i], mirrored_prices[name])[0, 1] > 0.995, name


def test_mirror_series_negates_every_return_and_keeps_bars_whole() -> None:
    s = series_of(*market(600, seed=2))
    image = mirror_series(s)
    np.testing.assert_allclose(np.diff(np.log(image.close)), -np.diff(np.log(s.close)), atol=1e-12)
    o, h, low, c = image.prices()
    assert np.all(h >= np.maximum(o, c) - 1e-9) and np.all(low <= np.minimum(o, c) + 1e-9)
    target = Target(horizon_bars=5)
    label, realized = target.outcomes(*s.prices())
    image_label, image_realized = target.outcomes(*image.prices())
    known = ~np.isnan(label)
    np.testing.assert_array_equal(image_label[known], 1 - label[known])
    np.testing.assert_allclose(image_realized[known], 1 / (1 + realized[known]) - 1, rtol=1e-9)


def test_training_set_adds_the_mirror_to_training_only() -> None:
    s = series_of(*market(2_000, seed=3, drift=0.001))
    target = Target(horizon_bars=6)
    plain = build_training_set([s], 16, 0.2, target=target)
    both = build_training_set([s], 16, 0.2, target=target, mirror=True)
    assert plain is not None and both is not None
    assert not plain.mirrored and both.mirrored
    assert both.n_real == len(plain.y_train) and len(both.y_train) == 2 * len(plain.y_train)
    np.testing.assert_array_equal(both.y_val, plain.y_val)
    np.testing.assert_array_equal(both.x_val_raw, plain.x_val_raw)
    np.testing.assert_array_equal(both.y_train[: both.n_real], plain.y_train)
    # A market that rose: its own labels lean up, with its mirror they balance.
    assert plain.y_train.mean() > 0.6
    assert abs(both.y_train.mean() - 0.5) < 0.01
    ret_1 = FEATURE_NAMES.index("ret_1")
    assert abs(both.scaler.mean[ret_1]) < 1e-12 < abs(plain.scaler.mean[ret_1])
    assert edge_level_error(both) == 0.0
    assert edge_level_error(plain) == edge_standard_error(plain.r_train, 6) > 0


@pytest.mark.parametrize("mirror", [False, True])
def test_a_drifting_year_teaches_a_drift_only_without_the_mirror(mirror: bool) -> None:
    """A random walk with a steady upward drift and nothing else. Trained
    on it alone, a model calls a window and its mirror image both 'up'
    more often than not: it learnt the year's drift. Trained with the
    mirror, its calls on the two are each other's opposite."""
    s = series_of(*market(4_000, seed=4, drift=0.0008))
    data = build_training_set([s], 8, 0.2, target=Target(horizon_bars=24), mirror=mirror)
    assert data is not None
    model = new_model(ModelConfig(kind="logistic", seq_len=8), len(FEATURE_NAMES))
    model.fit(data, seed=0)
    scaled = data.scaler.transform  # all columns: the model uses every feature
    prob = model.score(scaled(data.x_val_raw).astype(np.float32))
    prob_of_image = model.score(scaled(mirror_vectors(data.x_val_raw)).astype(np.float32))
    lean = float(np.mean(prob + prob_of_image - 1.0))  # 0 for a model without a drift
    if mirror:
        assert abs(lean) < 0.02
    else:
        assert lean > 0.1


def test_the_mirror_and_scaling_settings_change_the_decision_hash_only_where_they_decide() -> None:
    from helpers import REPO

    from bot.config import load_config

    default = load_config(REPO / "config.yaml")
    assert default.model.mirror is True
    # A config as it was before the setting existed: no mirror.
    cfg = default.model_copy(update={"model": default.model.model_copy(update={"mirror": False})})
    # The hash a run made before the setting existed recorded:
    before = cfg.model_dump(include={"mode", "symbols", "timeframe", "seed", "replay", "broker", "paper",
                                     "strategy", "features", "model", "risk", "retrain"})
    del before["model"]["mirror"]
    del before["model"]["scaling"]
    import hashlib
    import json

    recorded = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert cfg.decision_hash() == recorded
    # The default mirrors: a run the earlier default made is refused on
    # resume (it would change how the model reads), and `mirror: false` resumes it.
    assert default.decision_hash() != recorded
    # One symbol: its own scaler is the pooled one, either setting is the same run.
    pooled = cfg.model_copy(update={"model": cfg.model.model_copy(update={"scaling": "pooled"})})
    assert pooled.decision_hash() == recorded
    # Several: the setting decides. A run made before it existed was pooled:
    # the new default refuses it rather than change it silently, and
    # `scaling: pooled` resumes it.
    two = cfg.model_copy(update={"symbols": ["BTC/USDT", "ETH/USDT"]})
    two_before = {**before, "symbols": ["BTC/USDT", "ETH/USDT"]}
    recorded_two = hashlib.sha256(json.dumps(two_before, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert two.decision_hash() != recorded_two
    assert two.model_copy(update={"model": pooled.model}).decision_hash() == recorded_two
