"""Per-symbol scaling (`model.scaling: per_symbol`): one model pooled over
several markets, each market's features standardised by that market's own
training rows. The training set, the predictor, the model files and the
engine must all scale a window by its own symbol, and a symbol the model
never saw falls back to the pooled scaler."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import BUNDLED_BTC, replay, rows, write_config

from bot.config import ModelConfig, load_config
from bot.features import FEATURE_NAMES
from bot.features.batch import compute_features
from bot.model.dataset import SymbolSeries, build_training_set
from bot.model.factory import new_model
from bot.model.predictor import Predictor
from bot.model.registry import ModelRegistry
from bot.model.scaler import Scaler, scale_by_symbol
from bot.store import Store

HOUR = 3_600_000
SEQ_LEN = 8


def market(symbol: str, n: int, seed: int, sigma: float, volume: float) -> SymbolSeries:
    """A random walk whose features sit at their own level: `sigma` sets the
    returns' and volatility's scale, `volume` the volume's."""
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0.0, sigma, n))))
    features = compute_features(close, pd.Series(rng.lognormal(np.log(volume), 0.4, n))).dropna()
    at = features.index.to_numpy()
    return SymbolSeries(1_700_000_000_000 + at * HOUR, close.to_numpy()[at], features.to_numpy(), symbol=symbol)


@pytest.fixture(scope="module")
def calm_and_wild() -> list[SymbolSeries]:
    return [
        market("CALM/USDT", 1_500, seed=1, sigma=0.002, volume=10.0),
        market("WILD/USDT", 1_500, seed=2, sigma=0.03, volume=5_000.0),
    ]


def test_each_symbol_is_scaled_by_its_own_training_rows(calm_and_wild) -> None:
    data = build_training_set(calm_and_wild, SEQ_LEN, 0.2, per_symbol=True)
    assert data is not None and set(data.symbol_scalers) == {"CALM/USDT", "WILD/USDT"}
    volatility = FEATURE_NAMES.index("volatility_24")
    calm, wild = data.symbol_scalers["CALM/USDT"], data.symbol_scalers["WILD/USDT"]
    assert wild.mean[volatility] > 5 * calm.mean[volatility]  # the two markets' own normals
    # The pooled scaler is kept, for a symbol the model never trained on.
    assert calm.mean[volatility] < data.scaler.mean[volatility] < wild.mean[volatility]
    # Each symbol's training windows (the first half CALM's, the second
    # WILD's) are centred on their own market, not on the pool.
    half = len(data.x_train) // 2
    for part in (data.x_train[:half], data.x_train[half:]):
        assert abs(part[:, -1, volatility].mean()) < 0.5
    # Validation windows: scaling the raw ones by their symbols gives exactly the model's inputs.
    assert list(dict.fromkeys(data.val_symbols)) == ["CALM/USDT", "WILD/USDT"]
    rescaled = scale_by_symbol(data.x_val_raw, data.val_symbols, data.scaler, data.symbol_scalers)
    np.testing.assert_allclose(rescaled, data.x_val, atol=1e-5)


def test_pooled_scaling_is_unchanged_and_keeps_no_symbol_scalers(calm_and_wild) -> None:
    pooled = build_training_set(calm_and_wild, SEQ_LEN, 0.2)
    assert pooled is not None and pooled.symbol_scalers == {}
    np.testing.assert_allclose(pooled.scaler.transform(pooled.x_val_raw), pooled.x_val, atol=1e-5)
    # With one symbol the two settings are the same model inputs, and the same files.
    alone = build_training_set(calm_and_wild[:1], SEQ_LEN, 0.2)
    own = build_training_set(calm_and_wild[:1], SEQ_LEN, 0.2, per_symbol=True)
    assert alone is not None and own is not None and own.symbol_scalers == {}
    np.testing.assert_array_equal(alone.x_train, own.x_train)
    np.testing.assert_array_equal(alone.x_val, own.x_val)


def test_with_the_mirror_each_symbols_scaler_includes_its_image(calm_and_wild) -> None:
    data = build_training_set(calm_and_wild, SEQ_LEN, 0.2, mirror=True, per_symbol=True)
    assert data is not None
    ret_1 = FEATURE_NAMES.index("ret_1")
    for scaler in data.symbol_scalers.values():
        assert abs(scaler.mean[ret_1]) < 1e-12  # a market and its mirror: no drift left


def test_per_symbol_scaling_needs_named_distinct_series(calm_and_wild) -> None:
    unnamed = SymbolSeries(calm_and_wild[0].ts, calm_and_wild[0].close, calm_and_wild[0].vectors)
    with pytest.raises(ValueError, match="named"):
        build_training_set([unnamed, calm_and_wild[1]], SEQ_LEN, 0.2, per_symbol=True)
    with pytest.raises(ValueError, match="named"):
        build_training_set([calm_and_wild[0], calm_and_wild[0]], SEQ_LEN, 0.2, per_symbol=True)


def test_the_predictor_scales_each_window_by_its_symbol(calm_and_wild) -> None:
    data = build_training_set(calm_and_wild, SEQ_LEN, 0.2, per_symbol=True)
    assert data is not None
    cfg = ModelConfig(kind="logistic", seq_len=SEQ_LEN)
    model = new_model(cfg, len(FEATURE_NAMES))
    model.fit(data, seed=0)
    columns = list(range(len(FEATURE_NAMES)))
    predictor = Predictor(model, data.scaler, columns, SEQ_LEN, "v", symbol_scalers=data.symbol_scalers)
    # What the model scored in training is what the predictor scores from raw windows.
    np.testing.assert_allclose(
        predictor.raw_scores(data.x_val_raw, data.val_symbols), model.score(data.x_val), atol=1e-6
    )
    wild = data.x_val_raw[data.val_symbols == "WILD/USDT"][:50]
    as_wild = predictor.raw_scores(wild, ["WILD/USDT"] * len(wild))
    # An unknown symbol, or no symbols at all, reads through the pooled scaler.
    pooled = Predictor(model, data.scaler, columns, SEQ_LEN, "v").raw_scores(wild)
    np.testing.assert_allclose(predictor.raw_scores(wild, ["NEW/USDT"] * len(wild)), pooled, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(predictor.raw_scores(wild), pooled)
    assert np.max(np.abs(as_wild - pooled)) > 0.01


def _derived_market(directory: Path, power: float) -> Path:
    """The bundled BTC bars with every log move multiplied by `power` and the
    volume by 1,000: a market with its own volatility and volume levels."""
    bars = pd.read_csv(BUNDLED_BTC)
    first = bars.close.iloc[0]
    for column in ("open", "high", "low", "close"):
        bars[column] = first * (bars[column] / first) ** power
    bars["volume"] *= 1_000
    path = directory / "ALT_USDT-1h.csv.gz"
    with gzip.open(path, "wt") as out:
        bars.to_csv(out, index=False)
    return path


@pytest.fixture(scope="module")
def two_symbol_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("per_symbol")
    alt = _derived_market(directory, power=2.5)
    replay(
        write_config(
            directory,
            {
                "symbols": ["BTC/USDT", "ALT/USDT"],
                "replay": {"data": {"BTC/USDT": str(BUNDLED_BTC), "ALT/USDT": str(alt)}},
                "model": {"scaling": "per_symbol"},
            },
        )
    )
    return directory


def test_a_two_symbol_daemon_scores_each_symbol_through_its_own_scaler(two_symbol_run: Path) -> None:
    """The engine's stored P(up) for each symbol's last bar is what the
    version that made it gives the same window scaled by that symbol's
    scaler, and not what the pooled scaler would give."""
    cfg = load_config(two_symbol_run / "config.yaml")
    store = Store(cfg.storage.db_url)
    try:
        registry = ModelRegistry(store, cfg.path(cfg.storage.models_dir))
        for symbol, data_path in cfg.replay.data.items():
            newest = "SELECT ts, model_version, prob_up FROM predictions WHERE symbol = '{}' ORDER BY ts DESC LIMIT 1"
            ts, version, stored = rows(two_symbol_run / "bot.sqlite", newest.format(symbol))[0]
            row = next(v for v in store.model_versions() if v.version == version)
            saved = json.loads((registry.path_of(version) / "scaler.json").read_text())
            assert set(saved["by_symbol"]) == {"BTC/USDT", "ALT/USDT"}
            predictor = registry.load(row)
            bars = pd.read_csv(data_path)
            bars = bars[bars.timestamp <= ts].reset_index(drop=True)
            window = compute_features(bars.close, bars.volume).to_numpy()[-predictor.seq_len :][None]
            own = float(predictor.predict(window, [symbol])[0])
            assert own == pytest.approx(stored, abs=1e-5)
            pooled = float(predictor.predict(window)[0])
            assert abs(pooled - stored) > 1e-4, "the pooled scaler gives the same reading: the test cannot tell"
    finally:
        store.close()


def test_a_single_symbol_models_files_hold_no_symbol_scalers(tiny_run: Path) -> None:
    assert load_config(tiny_run / "config.yaml").model.scaling == "per_symbol"  # the default
    for scaler_file in (tiny_run / "models").glob("*/scaler.json"):
        saved = json.loads(scaler_file.read_text())
        assert "by_symbol" not in saved
        Scaler.from_json(saved)


def test_a_symbol_whose_data_begins_after_the_first_training_joins_later(tmp_path: Path) -> None:
    """The first model is due by the oldest symbol's bar count; a symbol
    whose file begins later has no row past warm-up yet. That model trains
    on the others (this crashed the run, at every restart), the newcomer is
    scored through the pooled scaler, and a later retrain takes it in."""
    late_by = 790  # hours: ALT has 10 bars, fewer than the 30 of warm-up, when the first model trains at 800
    bars = pd.read_csv(_derived_market(tmp_path, power=2.5))
    start = pd.Timestamp("2023-01-01", tz="UTC").value // 1_000_000 + late_by * HOUR
    alt = tmp_path / "ALT_late.csv.gz"
    with gzip.open(alt, "wt") as out:
        bars[bars.timestamp >= start].to_csv(out, index=False)
    replay(write_config(tmp_path, {
        "symbols": ["BTC/USDT", "ALT/USDT"],
        "replay": {"data": {"BTC/USDT": str(BUNDLED_BTC), "ALT/USDT": str(alt)}},
    }))
    trained_on = []
    for scaler_file in sorted((tmp_path / "models").glob("*/scaler.json")):
        trained_on.append(sorted(json.loads(scaler_file.read_text()).get("by_symbol", {})))
    # One series keeps no symbol scalers (as a single-symbol run's); two do.
    assert trained_on[0] == [] and ["ALT/USDT", "BTC/USDT"] in trained_on[1:], trained_on
    [(scored,)] = rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM predictions WHERE symbol = 'ALT/USDT'")
    assert scored > 100
