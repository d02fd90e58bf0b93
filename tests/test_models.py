"""Tests for bot.model: real (small) torch and sklearn models trained on
synthetic series whose answer is known.

A "planted" series draws random feature vectors and then makes the next
close rise exactly when a fixed function of recent features is positive,
with 5% of the directions flipped as noise; a model that learns the rule
scores about 95% and one that cannot see it about 50%. A random walk has
closes independent of the features: nothing can be learnt, and a sound
model must say so with probabilities near 0.5.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import numpy as np
import pytest
import skops.io
import torch
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from bot.config import ConfigError, ModelConfig, PromotionConfig
from bot.features.spec import FEATURE_NAMES
from bot.model.calibration import PlattCalibration
from bot.model.dataset import SymbolSeries, TrainingSet, build_training_set
from bot.model.device import pick_device
from bot.model.factory import load_model, new_model
from bot.model.file_digests import DIGESTS
from bot.model.predictor import Predictor
from bot.model.promotion import judge
from bot.model.registry import Candidate, ModelFileError, ModelRegistry
from bot.model.sequence_model import SequenceModel
from bot.model.tabular import ForestModel, LinearModel, _check_trees
from bot.model.targets import Target
from bot.store import Store

HOUR = 3_600_000
START_TS = 1_700_000_000_000
N_FEATURES = len(FEATURE_NAMES)
SEQ_LEN = 8
N_ROWS = 3000
FLIP = 0.05  # share of directions flipped against the planted rule

SEQ_KINDS = ("lstm", "gru")
TAB_KINDS = ("logistic", "random_forest")


def seq_cfg(kind: str = "lstm", **overrides) -> ModelConfig:
    base = dict(kind=kind, seq_len=SEQ_LEN, hidden_size=16, epochs=15, patience=3, batch_size=64,
                threads=1, learning_rate=0.01)
    return ModelConfig(**{**base, **overrides})


def tab_cfg(kind: str, **overrides) -> ModelConfig:
    base = dict(kind=kind, seq_len=SEQ_LEN, n_estimators=40, max_depth=6, min_samples_leaf=20, threads=1)
    return ModelConfig(**{**base, **overrides})


# -- synthetic series -----------------------------------------------------------


def lag_rule(v: np.ndarray) -> np.ndarray:
    """Up at t iff v[t, 0] + v[t-2, 1] > 0: needs memory of the window."""
    lagged = np.concatenate([np.zeros(2), v[:-2, 1]])
    return v[:, 0] + lagged


def newest_rule(v: np.ndarray) -> np.ndarray:
    """Up at t iff v[t, 0] - 0.7 v[t, 3] > 0: the newest vector suffices."""
    return v[:, 0] - 0.7 * v[:, 3]


@dataclasses.dataclass(frozen=True)
class Planted:
    series: SymbolSeries
    up: np.ndarray  # (T,) did close[t+1] rise above close[t] (after the noise)


def planted_series(rule, seed: int, n: int = N_ROWS, flip: float = FLIP) -> Planted:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, N_FEATURES))
    up = (rule(vectors) > 0) ^ (rng.random(n) < flip)
    size = np.abs(rng.normal(0.01, 0.003, n)) + 1e-4  # never a zero move
    log_return = np.where(up, size, -size)  # close[t] -> close[t+1]
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(log_return[:-1])]))
    ts = START_TS + np.arange(n, dtype=np.int64) * HOUR
    return Planted(SymbolSeries(ts=ts, close=close, vectors=vectors), up)


def random_walk_series(seed: int, n: int = N_ROWS) -> SymbolSeries:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, N_FEATURES))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    return SymbolSeries(ts=START_TS + np.arange(n, dtype=np.int64) * HOUR, close=close, vectors=vectors)


def accuracy(prob: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean((prob > 0.5) == (label > 0.5)))


def manual_scale(windows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """What the predictor should feed the model, written out independently."""
    return np.clip((windows - mean) / std, -8.0, 8.0).astype(np.float32)


@pytest.fixture(scope="module")
def lag_planted() -> Planted:
    return planted_series(lag_rule, seed=11)


@pytest.fixture(scope="module")
def lag_data(lag_planted) -> TrainingSet:
    data = build_training_set([lag_planted.series], SEQ_LEN, 0.2)
    assert data is not None
    return data


@pytest.fixture(scope="module")
def newest_planted() -> Planted:
    return planted_series(newest_rule, seed=23)


@pytest.fixture(scope="module")
def newest_data(newest_planted) -> TrainingSet:
    data = build_training_set([newest_planted.series], SEQ_LEN, 0.2)
    assert data is not None
    return data


def test_planted_labels_are_what_the_model_is_asked_for(lag_planted, lag_data) -> None:
    """Sanity of the fixture itself: the validation labels are the planted
    directions of the newest windows (window ends T-1-n_val .. T-2)."""
    n_val = len(lag_data.y_val)
    ends = np.arange(N_ROWS - 1 - n_val, N_ROWS - 1)
    np.testing.assert_array_equal(lag_data.y_val, lag_planted.up[ends].astype(np.float32))
    # Noise was applied: the rule alone explains about 95% of the labels.
    agreement = np.mean((lag_rule(lag_planted.series.vectors) > 0) == lag_planted.up)
    assert 0.92 < agreement < 0.98
    assert 0.4 < lag_data.y_val.mean() < 0.6


# -- 1. a planted pattern is learnt ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", SEQ_KINDS)
def test_recurrent_model_learns_a_pattern_spread_over_the_window(kind, lag_data) -> None:
    model = new_model(seq_cfg(kind), N_FEATURES)
    assert isinstance(model, SequenceModel)
    model.fit(lag_data, seed=3)
    prob = model.score(lag_data.x_val)
    assert prob.shape == (len(lag_data.x_val),)
    assert np.all((prob > 0) & (prob < 1))
    assert accuracy(prob, lag_data.y_val) > 0.75
    assert roc_auc_score(lag_data.y_val, prob) > 0.85

    # The rule needs v[t-2]: a model that sees only the newest vector
    # reaches about 72% (P(sign a = sign(a+b)) = 0.75, less the noise). The
    # recurrent net must beat it, or it is not using its window.
    newest_only = new_model(tab_cfg("logistic"), N_FEATURES)
    newest_only.fit(lag_data, seed=3)
    baseline = accuracy(newest_only.score(lag_data.x_val), lag_data.y_val)
    assert baseline < 0.8
    assert accuracy(prob, lag_data.y_val) > baseline + 0.05


@pytest.mark.parametrize("kind", TAB_KINDS)
def test_tabular_model_learns_a_pattern_in_the_newest_vector(kind, newest_data) -> None:
    model = new_model(tab_cfg(kind), N_FEATURES)
    assert isinstance(model, LinearModel if kind == "logistic" else ForestModel)
    model.fit(newest_data, seed=3)
    prob = model.score(newest_data.x_val)
    assert prob.shape == (len(newest_data.x_val),)
    assert np.all((prob >= 0) & (prob <= 1))
    assert accuracy(prob, newest_data.y_val) > 0.75


def test_tabular_model_ignores_all_but_the_newest_vector(newest_data) -> None:
    """The baselines see x[:, -1, :] only: changing older rows changes nothing."""
    model = new_model(tab_cfg("logistic"), N_FEATURES)
    model.fit(newest_data, seed=0)
    x = newest_data.x_val.copy()
    scrambled = x.copy()
    scrambled[:, :-1, :] = np.random.default_rng(0).standard_normal(scrambled[:, :-1, :].shape)
    np.testing.assert_array_equal(model.score(x), model.score(scrambled))
    changed = x.copy()
    changed[:, -1, 0] += 1.0
    assert not np.array_equal(model.score(x), model.score(changed))


# -- 2. a random walk is not learnt ---------------------------------------------------


@pytest.mark.slow
def test_random_walk_is_not_learnt_and_seldom_crosses_the_entry_threshold() -> None:
    data = build_training_set([random_walk_series(seed=5)], SEQ_LEN, 0.2)
    model = new_model(seq_cfg("lstm"), N_FEATURES)
    model.fit(data, seed=0)
    prob = model.score(data.x_val)
    assert abs(accuracy(prob, data.y_val) - 0.5) <= 0.06
    assert np.mean((prob >= 0.4) & (prob <= 0.6)) >= 0.95
    # The default strategy enters above 0.6: on noise it must seldom trade.
    assert np.mean(prob > 0.6) < 0.05


# -- 3. determinism -------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_same_model_other_seed_other_model(newest_data) -> None:
    cfg = seq_cfg("lstm", epochs=3)
    scores = []
    for seed in (7, 7, 8):
        model = new_model(cfg, N_FEATURES)
        model.fit(newest_data, seed)
        scores.append(model.score(newest_data.x_val))
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.allclose(scores[0], scores[2])


# -- 4. save and load ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_models(newest_data):
    """One fitted model per (kind, target), trained once for the module."""
    models = {}
    for kind in SEQ_KINDS + TAB_KINDS:
        for target in ("direction", "return"):
            cfg = (seq_cfg(kind, epochs=4, target=target) if kind in SEQ_KINDS
                   else tab_cfg(kind, target=target))
            model = new_model(cfg, N_FEATURES)
            model.fit(newest_data, seed=1)
            models[kind, target] = (cfg, model)
    return models


@pytest.mark.slow
@pytest.mark.parametrize("target", ["direction", "return"])
@pytest.mark.parametrize("kind", SEQ_KINDS + TAB_KINDS)
def test_save_load_round_trip(kind, target, fitted_models, newest_data, tmp_path) -> None:
    cfg, model = fitted_models[kind, target]
    x = newest_data.x_val
    original = model.score(x)
    model.save(tmp_path)
    loaded = load_model(tmp_path, cfg, N_FEATURES)
    assert type(loaded) is type(model)
    again = loaded.score(x)
    assert again.shape == original.shape

    if kind in SEQ_KINDS:
        assert cfg.runtime == "auto"
        assert loaded._session is not None, "runtime auto must score through ONNX Runtime"
        np.testing.assert_allclose(again, original, rtol=0, atol=1e-5)
        # The exported graph takes any batch size, batch 1 included.
        np.testing.assert_allclose(loaded.score(x[:1]), original[:1], rtol=0, atol=1e-5)
        np.testing.assert_allclose(loaded.score(x[:37]), original[:37], rtol=0, atol=1e-5)
        torch_loaded = load_model(tmp_path, cfg.model_copy(update={"runtime": "torch"}), N_FEATURES)
        assert torch_loaded._session is None
        np.testing.assert_array_equal(torch_loaded.score(x), original)
    else:
        np.testing.assert_array_equal(again, original)

    if target == "direction":
        assert np.all((original >= 0) & (original <= 1))
        assert accuracy(original, newest_data.y_val) > 0.7
    else:
        # Log returns in the data's units, not probabilities: both signs,
        # spread comparable to the returns', and they track the real ones.
        data_std = float(newest_data.r_val.std())
        assert (original < 0).mean() > 0.2 and (original > 0).mean() > 0.2
        assert 0.2 * data_std < original.std() < 2.0 * data_std
        assert np.abs(original).max() < 10 * data_std
        assert np.corrcoef(original, newest_data.r_val)[0, 1] > 0.5
        assert accuracy(original + 0.5, newest_data.y_val) > 0.7  # sign right


@pytest.mark.slow
def test_a_loaded_net_saved_again_keeps_its_graph_without_exporting(fitted_models, newest_data, tmp_path,
                                                                    monkeypatch) -> None:
    """A recalibrated champion is its loaded net saved under a new version:
    the ONNX graph it was loaded with is written again, not exported anew,
    and a net trained afresh is exported, not given a stale graph."""
    cfg, model = fitted_models["lstm", "direction"]
    for name in "abc":
        (tmp_path / name).mkdir()
    model.save(tmp_path / "a")
    loaded = load_model(tmp_path / "a", cfg, N_FEATURES)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    loaded.save(tmp_path / "b")
    assert (tmp_path / "b" / "net.onnx").read_bytes() == (tmp_path / "a" / "net.onnx").read_bytes()
    np.testing.assert_array_equal(load_model(tmp_path / "b", cfg, N_FEATURES).score(newest_data.x_val),
                                  loaded.score(newest_data.x_val))

    monkeypatch.undo()
    loaded.fit(newest_data, seed=2)
    loaded.save(tmp_path / "c")
    assert (tmp_path / "c" / "net.onnx").read_bytes() != (tmp_path / "a" / "net.onnx").read_bytes()
    np.testing.assert_allclose(load_model(tmp_path / "c", cfg, N_FEATURES).score(newest_data.x_val),
                               loaded.score(newest_data.x_val), rtol=0, atol=1e-5)


# -- 5. the registry ------------------------------------------------------------------


def _candidate(model, cfg: ModelConfig, data: TrainingSet, version: str, **predictor_extra) -> Candidate:
    target = Target(regression=not cfg.is_classifier)
    predictor = Predictor(model, data.scaler, data.columns, cfg.seq_len, version, target, **predictor_extra)
    metrics = {"n_train": len(data.x_train), "n_val": len(data.x_val), "val_accuracy": 0.9}
    return Candidate(predictor, cfg, metrics, data.from_ts, data.to_ts)


def _statuses(store: Store) -> dict[str, str]:
    return {v.version: v.status for v in store.model_versions()}


@pytest.mark.slow
def test_registry_round_trip_statuses_and_promotion(lag_planted, tmp_path) -> None:
    columns = [0, 1, 4, 7]  # the rule reads features 0 and 1; 4 and 7 are noise
    data = build_training_set([lag_planted.series], SEQ_LEN, 0.2, columns)
    names = [FEATURE_NAMES[c] for c in columns]
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite'}")
    registry = ModelRegistry(store, tmp_path / "models")
    raw = data.x_val_raw  # every feature, unscaled
    assert raw.shape[2] == N_FEATURES

    # First: an LSTM with Platt calibration, saved as champion.
    lstm_cfg = seq_cfg("lstm", features=names, epochs=6)
    lstm = new_model(lstm_cfg, len(columns))
    lstm.fit(data, seed=2)
    first = _candidate(lstm, lstm_cfg, data, registry.version_name(START_TS + 1000 * HOUR))
    first.predictor.calibration = PlattCalibration.fit(first.predictor.predict(raw), data.y_val)
    row1 = registry.register(first, created_ts=START_TS + 1000 * HOUR, config_hash="h1", champion=True)
    stamp = datetime.fromtimestamp((START_TS + 1000 * HOUR) / 1000, tz=UTC).strftime("%Y%m%dT%H%M")
    assert row1.version == f"v0001-{stamp}" == first.predictor.version
    assert _statuses(store) == {row1.version: "champion"}

    loaded = registry.load(row1)
    assert loaded.version == row1.version and loaded.columns == columns and loaded.seq_len == SEQ_LEN
    assert loaded.calibration == first.predictor.calibration
    expected = first.predictor.predict(raw)
    np.testing.assert_allclose(loaded.predict(raw), expected, rtol=0, atol=1e-5)  # through ONNX
    assert accuracy(expected, data.y_val) > 0.75

    assert row1.path == row1.version  # stored relative to the models directory
    version_dir = registry.path_of(row1.version)
    assert version_dir == tmp_path / "models" / row1.version
    for name in ("weights.pt", "net.onnx", "scaler.json", "predictor.json", "config.json", "metrics.json", DIGESTS):
        assert (version_dir / name).is_file(), name
    assert not list((tmp_path / "models").glob(".*.tmp")), "a temporary directory was left behind"
    state = torch.load(version_dir / "weights.pt", map_location="cpu", weights_only=True)
    assert isinstance(state, dict)
    assert all(isinstance(t, torch.Tensor) for t in state.values())
    assert state["rnn.weight_ih_l0"].shape == (4 * 16, len(columns))
    saved = json.loads((version_dir / "config.json").read_text())
    assert saved["columns"] == columns and saved["features"] == list(FEATURE_NAMES)
    assert json.loads((version_dir / "metrics.json").read_text())["n_val"] == len(data.x_val)

    # Second: a random forest (loaded exactly); as champion it retires the first.
    forest_cfg = tab_cfg("random_forest", features=names)
    forest = new_model(forest_cfg, len(columns))
    forest.fit(data, seed=2)
    second = _candidate(forest, forest_cfg, data, registry.version_name(START_TS + 2000 * HOUR))
    row2 = registry.register(second, created_ts=START_TS + 2000 * HOUR, config_hash="h2", champion=True)
    assert row2.version.startswith("v0002-")
    assert _statuses(store) == {row1.version: "retired", row2.version: "champion"}
    assert store.champion().version == row2.version
    np.testing.assert_array_equal(registry.load(row2).predict(raw), second.predictor.predict(raw))
    assert row2.path == row2.version and (registry.path_of(row2.version) / "forest.skops").is_file()

    # Third: a ridge return model, not champion: rejected, champion untouched.
    ridge_cfg = tab_cfg("logistic", features=names, target="return")
    ridge = new_model(ridge_cfg, len(columns))
    ridge.fit(data, seed=2)
    rmse = float(np.sqrt(np.mean((ridge.score(data.x_val) - np.log1p(data.r_val)) ** 2)))
    third = _candidate(ridge, ridge_cfg, data, registry.version_name(START_TS + 3000 * HOUR), return_rmse=rmse)
    row3 = registry.register(third, created_ts=START_TS + 3000 * HOUR, config_hash="h3", champion=False)
    assert _statuses(store) == {row1.version: "retired", row2.version: "champion", row3.version: "rejected"}
    assert store.model_version_count() == 3
    assert store.model_version(row3.version) == row3 and store.model_version("v9999-nope") is None
    loaded3 = registry.load(row3)
    assert loaded3.target.regression and loaded3.return_rmse == rmse
    np.testing.assert_array_equal(loaded3.predict(raw), third.predictor.predict(raw))
    # The checks below guard the files' contents, which is all a version saved
    # before digests has (test_a_model_file_changed_since_it_was_saved_...):
    # these versions lose theirs, so that hand edits reach the checks.
    for row in (row1, row2, row3):
        _as_saved_before_digests(registry.path_of(row.version))
    # Weights that load but cannot score (a hand-edited linear.json) are refused
    # at load, naming the version: promoted, they stopped the daemon at every bar.
    linear = registry.path_of(row3.version) / "linear.json"
    fitted = linear.read_text()
    nan_coef = [float("nan")] * len(columns)
    for bad, says in (({"coef": [0.5]}, "cannot score"), ({"coef": nan_coef}, "not one finite figure each")):
        linear.write_text(json.dumps({**json.loads(fitted), **bad}))
        with pytest.raises(ModelFileError, match=rf"model {row3.version}: its weights in .* load, but .*{says}"):
            registry.promote(row3.version)
    linear.write_text(fitted)
    assert _statuses(store)[row2.version] == "champion"

    # Rollback: the first becomes champion again, the second is retired.
    registry.promote(row1.version)
    assert _statuses(store) == {row1.version: "champion", row2.version: "retired", row3.version: "rejected"}
    champion = registry.load_champion()
    assert champion.version == row1.version
    np.testing.assert_allclose(champion.predict(raw), expected, rtol=0, atol=1e-5)

    with pytest.raises(KeyError):
        registry.promote("v9999-nope")
    assert _statuses(store)[row1.version] == "champion"

    # A version whose files are gone is refused, naming it, and nothing changes.
    for path in registry.path_of(row3.version).iterdir():
        path.unlink()
    with pytest.raises(ModelFileError, match=rf"model {row3.version}: .*config.json is missing"):
        registry.promote(row3.version)
    assert _statuses(store) == {row1.version: "champion", row2.version: "retired", row3.version: "rejected"}

    # A champion whose weights are corrupt: the previous good version takes
    # over, with an event that names the version and what failed.
    registry.promote(row2.version)
    (registry.path_of(row2.version) / "forest.skops").write_bytes(b"not a forest")
    fallback = registry.load_champion(now_ms=START_TS)
    assert fallback.version == row1.version and store.champion().version == row1.version
    (event,) = [e for e in store.recent_events(10) if e.kind == "champion_unreadable"]
    assert row2.version in event.message and "weights" in event.message and row1.version in event.message

    # A calibration of the wrong shape is refused at load, naming the
    # version, not at the first bar it would score.
    predictor_json = registry.path_of(row1.version) / "predictor.json"
    original = predictor_json.read_text()
    calibration = {"slope": 1.0, "intercept": 0.0, "covariance": [[1.0, 0.0, 0.0]]}
    predictor_json.write_text(json.dumps({**json.loads(original), "calibration": calibration}))
    with pytest.raises(ModelFileError, match=rf"model {row1.version}: .*unusable settings"):
        registry.load(store.champion())
    predictor_json.write_text(original)
    # So is a scaler that cannot scale the model's columns, pooled or a symbol's.
    scaler_json = registry.path_of(row1.version) / "scaler.json"
    saved = scaler_json.read_text()
    good = json.loads(saved)
    for bad in ({**good, "mean": good["mean"][:-1]}, {**good, "std": [0.0] * len(good["std"])},
                {**good, "by_symbol": {"ETH/USDT": {**good, "mean": [float("nan")] * len(good["mean"])}}},
                {**good, "by_symbol": ["not", "a", "mapping"]}):
        scaler_json.write_text(json.dumps(bad))
        with pytest.raises(ModelFileError, match=rf"model {row1.version}: .*unusable settings"):
            registry.load(store.champion())
    scaler_json.write_text(json.dumps({**good, "by_symbol": {"ETH/USDT": good}}))
    assert set(registry.load(store.champion()).symbol_scalers) == {"ETH/USDT"}
    scaler_json.write_text(saved)

    # A model saved before a feature was added (ret_96 came in December
    # 2026) names its inputs in the list it was saved with: it loads with
    # the same inputs at their new positions, and scores as before.
    config_json = registry.path_of(row1.version) / "config.json"
    today = json.loads(config_json.read_text())
    older = [n for n in FEATURE_NAMES if n != "ret_96"]
    config_json.write_text(json.dumps({**today, "features": older, "columns": [older.index(n) for n in names]}))
    earlier = registry.load(store.champion())
    assert earlier.columns == columns
    np.testing.assert_allclose(earlier.predict(raw), expected, rtol=0, atol=1e-5)
    # One that reads a feature this version does not compute, or does not
    # say what it reads, is refused naming the version.
    renamed = [*older[:-1], "close_ema_ratio"]
    for bad, message in (({**today, "features": renamed, "columns": [len(older) - 1]}, "'close_ema_ratio'"),
                         ({k: v for k, v in today.items() if k != "columns"}, "which features it reads")):
        config_json.write_text(json.dumps(bad))
        with pytest.raises(ModelFileError, match=rf"model {row1.version}: .*{message}"):
            registry.load(store.champion())
    config_json.write_text(json.dumps(today))

    # A state directory moved elsewhere loads its own files.
    moved = tmp_path / "moved-models"
    registry.models_dir.rename(moved)
    assert ModelRegistry(store, moved).load_champion().version == row1.version
    store.close()


def _as_saved_before_digests(directory) -> None:
    """A version as this bot saved it before checksums.json existed."""
    (directory / DIGESTS).unlink()
    config = json.loads((directory / "config.json").read_text())
    del config["checksums"]
    (directory / "config.json").write_text(json.dumps(config))


def _flip_first_weight(path) -> None:
    """A damaged but well-formed net.onnx: its first weight of the recurrent
    cell negated, as a bit flip in a float's sign would leave it."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(path.read_bytes())
    tensor = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # the largest: the cell's weights
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] = -values.flat[0] if values.flat[0] else 1.0
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    path.write_bytes(graph.SerializeToString())


def test_a_model_file_changed_since_it_was_saved_is_refused_and_the_champion_falls_back(lag_planted, tmp_path):
    data = build_training_set([lag_planted.series], SEQ_LEN, 0.2, [0, 1])
    names = [FEATURE_NAMES[0], FEATURE_NAMES[1]]
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite'}")
    registry = ModelRegistry(store, tmp_path / "models")
    cfg = seq_cfg("lstm", features=names, epochs=1)
    rows = []
    for n in (1, 2):
        model = new_model(cfg, 2)
        model.fit(data, seed=n)
        candidate = _candidate(model, cfg, data, registry.version_name(START_TS + n * 1000 * HOUR))
        rows.append(registry.register(candidate, created_ts=START_TS + n * 1000 * HOUR, config_hash="h", champion=True))
    first, second = rows
    directory = registry.path_of(second.version)
    saved = json.loads((directory / DIGESTS).read_text())["sha256"]
    assert set(saved) == {p.name for p in directory.iterdir()} - {DIGESTS}
    raw = data.x_val_raw[:50]
    before = registry.load(second).predict(raw)

    # The graph that scores, changed in one weight: it still loads and scores,
    # only differently, which is why nothing but its digest can tell.
    onnx_file = directory / "net.onnx"
    good = onnx_file.read_bytes()
    _flip_first_weight(onnx_file)
    with pytest.raises(ModelFileError, match=rf"model {second.version}: .*net.onnx is not the file that was saved"):
        registry.load(second)
    fallback = registry.load_champion(now_ms=START_TS)
    assert fallback.version == first.version and store.champion().version == first.version
    (event,) = [e for e in store.recent_events(10) if e.kind == "champion_unreadable"]
    assert second.version in event.message and "net.onnx" in event.message and first.version in event.message
    with pytest.raises(ModelFileError, match="net.onnx is not the file that was saved"):
        registry.promote(second.version)
    assert store.champion().version == first.version

    # Restored as saved, it loads and scores as before; other files likewise.
    onnx_file.write_bytes(good)
    np.testing.assert_array_equal(registry.load(second).predict(raw), before)
    weights = directory / "weights.pt"
    state = torch.load(weights, weights_only=True)
    torch.save({k: v * 1.001 if k.startswith("rnn.weight") else v for k, v in state.items()}, weights)
    with pytest.raises(ModelFileError, match="weights.pt is not the file that was saved"):
        registry.load(second)
    torch.save(state, weights)
    assert registry.load(second).version == second.version  # the same tensors: the same bytes
    metrics = directory / "metrics.json"
    kept = metrics.read_bytes()
    metrics.unlink()
    with pytest.raises(ModelFileError, match="metrics.json is missing"):
        registry.load(second)
    metrics.write_bytes(kept)
    (directory / "weights.pt.orig").write_bytes(b"a file nobody saved")  # a stray file is not a file of the version
    with pytest.raises(ModelFileError, match=r"weights.pt.orig was not there when the version was saved"):
        registry.load(second)
    (directory / "weights.pt.orig").unlink()
    record = (directory / DIGESTS).read_text()
    for bad, says in (("not json", "is not a readable record"),
                      (json.dumps({"sha256": ["a list"]}), "is not a readable record"),
                      (json.dumps({"sha256": {}}), "records no file"),
                      (json.dumps({"sha256": {**saved, "../x.sqlite": "0"}}), "names '../x.sqlite'"),
                      (json.dumps({"sha256": {**saved, "..": "0"}}), "names '..'")):
        (directory / DIGESTS).write_text(bad)
        with pytest.raises(ModelFileError, match=rf"model {second.version}: .*{DIGESTS} {says}"):
            registry.load(second)
    # Losing the record is no way around it: the version says it was saved with one.
    (directory / DIGESTS).unlink()
    with pytest.raises(ModelFileError, match=rf"model {second.version}: .*{DIGESTS} is missing"):
        registry.load(second)
    (directory / DIGESTS).write_text(record)
    assert registry.load(second).version == second.version

    # A version saved before digests has none and loads as it always did.
    _as_saved_before_digests(directory)
    _flip_first_weight(onnx_file)
    assert not np.array_equal(registry.load(second).predict(raw), before)
    store.close()


# -- 5b. the forest file check --------------------------------------------------------


@pytest.fixture()
def small_forest(newest_data):
    model = new_model(tab_cfg("random_forest", n_estimators=5, max_depth=4), N_FEATURES)
    model.fit(newest_data, seed=0)
    return model


def test_untampered_forest_passes_the_check_and_loads(small_forest, newest_data, tmp_path) -> None:
    _check_trees(small_forest.estimator, N_FEATURES)
    small_forest.save(tmp_path)
    loaded = ForestModel.load(tmp_path, tab_cfg("random_forest"), N_FEATURES)
    np.testing.assert_array_equal(loaded.score(newest_data.x_val), small_forest.score(newest_data.x_val))


@pytest.mark.parametrize("target", ["direction", "return"])
def test_forest_scores_exactly_what_sklearn_predicts(target, newest_data) -> None:
    """The bar-by-bar tree walk is a speed-up, never a different model."""
    model = new_model(tab_cfg("random_forest", n_estimators=7, max_depth=4, target=target), N_FEATURES)
    model.fit(newest_data, seed=3)
    rows = newest_data.x_val[:, -1, :].astype(np.float64)
    expected = (model.estimator.predict_proba(rows)[:, 1] if target == "direction"
                else model.estimator.predict(rows))
    np.testing.assert_array_equal(model.score(newest_data.x_val), expected)


@pytest.mark.parametrize("field, value", [
    ("children_left", "node_count"),  # one past the last node
    ("children_right", "node_count+50"),
    ("children_left", -7),
    ("feature", N_FEATURES),  # the model has N_FEATURES columns: 0..N_FEATURES-1
    ("feature", -3),
])
def test_tampered_forest_file_is_refused(field, value, small_forest, tmp_path) -> None:
    tree = small_forest.estimator.estimators_[0].tree_
    nodes = tree.node_count
    bad = {"node_count": nodes, "node_count+50": nodes + 50}.get(value, value)
    array = getattr(tree, field)  # a writable view of the tree's node array
    assert array.flags.writeable
    array[0] = bad
    assert getattr(tree, field)[0] == bad  # the tree itself changed
    skops.io.dump(small_forest.estimator, tmp_path / "forest.skops")
    # The file holds the tampered index...
    raw = skops.io.load(tmp_path / "forest.skops", trusted=["sklearn.tree._tree.Tree"])
    assert getattr(raw.estimators_[0].tree_, field)[0] == bad
    # ...and the model loader refuses it before sklearn can follow it.
    with pytest.raises(ValueError, match="out of range"):
        ForestModel.load(tmp_path, tab_cfg("random_forest"), N_FEATURES)


def test_forest_with_more_features_than_the_model_is_refused(small_forest) -> None:
    """A split on column j is fine for a model with j + 1 columns, not for
    one with j columns."""
    used = max(int(e.tree_.feature.max()) for e in small_forest.estimator.estimators_)
    assert used >= 3
    _check_trees(small_forest.estimator, used + 1)
    with pytest.raises(ValueError, match="feature index"):
        _check_trees(small_forest.estimator, used)


def _internal_nodes(tree) -> np.ndarray:
    return np.flatnonzero(tree.children_left != -1)


def test_internal_node_with_leaf_marker_as_right_child_is_refused(small_forest) -> None:
    """Sklearn then reads nodes[-1], before the node array: refused."""
    tree = small_forest.estimator.estimators_[0].tree_
    tree.children_right[_internal_nodes(tree)[0]] = -1
    with pytest.raises(ValueError):
        _check_trees(small_forest.estimator, N_FEATURES)


def test_internal_node_with_negative_feature_is_refused(small_forest) -> None:
    """Sklearn indexes X[i, -2] with wraparound off: out of bounds: refused."""
    tree = small_forest.estimator.estimators_[0].tree_
    tree.feature[_internal_nodes(tree)[0]] = -2
    with pytest.raises(ValueError):
        _check_trees(small_forest.estimator, N_FEATURES)


def test_tree_with_a_cycle_is_refused(small_forest) -> None:
    """Sklearn's apply then loops forever: refused."""
    tree = small_forest.estimator.estimators_[0].tree_
    tree.children_left[0] = 0  # in range, but the root now leads back to itself
    with pytest.raises(ValueError):
        _check_trees(small_forest.estimator, N_FEATURES)


# -- 6. the return-target predictor ---------------------------------------------------


def test_return_predictor_is_phi_of_return_over_rmse(newest_planted) -> None:
    columns = [0, 3, 5]
    data = build_training_set([newest_planted.series], SEQ_LEN, 0.2, columns)
    cfg = tab_cfg("logistic", target="return", features=[FEATURE_NAMES[c] for c in columns])
    model = new_model(cfg, len(columns))
    model.fit(data, seed=0)
    rmse = 0.0123
    predictor = Predictor(model, data.scaler, columns, SEQ_LEN, "v-ret", Target(regression=True), return_rmse=rmse)

    raw = data.x_val_raw
    prob = predictor.predict(raw)

    # Independently: scale the newest raw vector's chosen columns, apply the
    # ridge coefficients, then the normal CDF of r / rmse.
    scaled = manual_scale(raw[:, -1, columns], data.scaler.mean, data.scaler.std).astype(np.float64)
    ridge = model.estimator
    r = scaled @ np.asarray(ridge.coef_, dtype=np.float64) + float(ridge.intercept_)
    np.testing.assert_allclose(prob, ndtr(r / rmse), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal((prob > 0.5), (r > 0))
    assert (r > 0).any() and (r < 0).any()
    # Learnt: the sign of the predicted return matches the move most of the time.
    assert accuracy(prob, data.y_val) > 0.75

    # Windows longer than seq_len: only the newest seq_len rows count.
    longer = np.concatenate([np.full((len(raw), 5, N_FEATURES), 1e6), raw], axis=1)
    np.testing.assert_array_equal(predictor.predict(longer), prob)
    # A wider spread pulls every probability towards 0.5, keeping the side.
    wider = dataclasses.replace(predictor, return_rmse=10 * rmse).predict(raw)
    assert np.all(np.abs(wider - 0.5) <= np.abs(prob - 0.5))
    np.testing.assert_array_equal(wider > 0.5, prob > 0.5)


# -- 7. Platt calibration ------------------------------------------------------------


def _overconfident(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.uniform(0.02, 0.98, n)
    truth = 0.5 + 0.5 * (p - 0.5)  # the real chance is half as far from 0.5
    return p, (rng.random(n) < truth).astype(np.float64)


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_platt_calibration_fixes_overconfidence_and_keeps_the_order() -> None:
    rng = np.random.default_rng(4)
    p_fit, y_fit = _overconfident(rng, 20_000)
    calibration = PlattCalibration.fit(p_fit, y_fit)
    assert 0 < calibration.slope < 0.8  # shrinks towards 0.5
    assert abs(calibration.intercept) < 0.1  # the overconfidence is symmetric

    p_new, y_new = _overconfident(rng, 20_000)
    calibrated = calibration.apply(p_new)
    assert _log_loss(calibrated, y_new) < _log_loss(p_new, y_new) - 0.01
    assert roc_auc_score(y_new, calibrated) == roc_auc_score(y_new, p_new)
    np.testing.assert_array_equal(np.argsort(calibrated, kind="stable"), np.argsort(p_new, kind="stable"))
    # Levels: among raw 0.9s, about 0.7 really go up; calibrated says so.
    near = np.abs(p_new - 0.9) < 0.03
    assert abs(calibrated[near].mean() - 0.7) < 0.04


def test_platt_calibration_leaves_calibrated_probabilities_alone() -> None:
    rng = np.random.default_rng(9)
    p = rng.uniform(0.05, 0.95, 20_000)
    y = (rng.random(len(p)) < p).astype(np.float64)
    calibration = PlattCalibration.fit(p, y)
    # logit(p) is the true log-odds, so the fit is the identity.
    assert abs(calibration.slope - 1.0) < 0.1 and abs(calibration.intercept) < 0.1
    np.testing.assert_allclose(calibration.apply(p), p, atol=0.03)


@pytest.mark.parametrize("intercept", [False, True])
def test_calibration_knows_how_uncertain_it_is(intercept: bool) -> None:
    """The covariance the fit reports is the spread its parameters really
    have from one sample to the next, so an edge's doubt is neither
    invented nor hidden."""
    rng = np.random.default_rng(12)
    fits = []
    for _ in range(150):
        p = rng.uniform(0.2, 0.8, 600)
        truth = 1 / (1 + np.exp(-(0.8 * np.log(p / (1 - p)) + 0.2 * intercept)))
        fits.append(PlattCalibration.fit(p, (rng.random(len(p)) < truth).astype(float), intercept=intercept))
    slopes = np.array([f.slope for f in fits])
    reported = np.sqrt(np.mean([f.covariance[0][0] for f in fits]))
    assert reported == pytest.approx(np.std(slopes), rel=0.2)
    if intercept:
        reported = np.sqrt(np.mean([f.covariance[1][1] for f in fits]))
        assert reported == pytest.approx(np.std([f.intercept for f in fits]), rel=0.2)


@pytest.mark.parametrize("intercept", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_calibration_is_the_exact_optimum_of_scikit_learns_own_objective(intercept: bool, seed: int) -> None:
    """The fit is the mode of the same penalised, weighted logistic fit that
    scikit-learn solves (C = 1, the intercept unpenalised), reached exactly:
    scikit-learn at a tolerance of 1e-12 agrees to 1e-7, on flat slices too,
    where its default tolerance stopped short."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n, horizon = int(rng.integers(300, 2_000)), int(rng.choice([1, 12, 48]))
    p = np.clip(0.5 + rng.normal(0, [0.02, 0.05, 0.1, 0.2][seed], n), 0.01, 0.99)
    y = (rng.random(n) < 0.55 + 0.5 * (p - 0.5)).astype(float)
    ours = PlattCalibration.fit(p, y, intercept=intercept, horizon=horizon)
    logit = np.log(p / (1 - p))
    theirs = LogisticRegression(C=1.0, max_iter=10_000, tol=1e-12, fit_intercept=intercept).fit(
        logit[:, None], y.astype(int), sample_weight=np.full(n, 1.0 / horizon))
    if theirs.coef_[0, 0] < 0:  # the slope is held at 0 (next test): the intercept is the base rate's
        assert ours.slope == 0.0
        assert ours.intercept == pytest.approx(np.log(y.mean() / (1 - y.mean())) if intercept else 0.0, abs=1e-12)
        return
    assert ours.slope == pytest.approx(theirs.coef_[0, 0], abs=1e-7)
    assert ours.intercept == pytest.approx(theirs.intercept_[0] if intercept else 0.0, abs=1e-7)


@pytest.mark.parametrize("intercept", [False, True])
def test_calibration_never_reads_a_ranking_backwards(intercept: bool) -> None:
    """Scores that went the wrong way on the slice gave a negative slope:
    the calls were the model's read backwards, and their AUC on the slice
    was 1 - the model's, which the promotion gate took for skill. The slope
    stops at 0: every window the same probability, the slice's base rate."""
    rng = np.random.default_rng(8)
    p = rng.uniform(0.3, 0.7, 3_000)
    y = (rng.random(len(p)) < 0.9 - p).astype(float)  # the higher the score, the fewer ups
    fit = PlattCalibration.fit(p, y, intercept=intercept, horizon=12)
    assert fit.slope == 0.0
    calibrated = fit.apply(p)
    assert np.all(calibrated == calibrated[0])
    assert calibrated[0] == pytest.approx(y.mean() if intercept else 0.5, abs=1e-12)
    assert fit.standard_error(np.array([0.7]))[0] > 0  # the doubt about the slope stays
    skilled = PlattCalibration.fit(p, 1.0 - y, intercept=intercept, horizon=12)
    assert skilled.slope > 0.5  # the same scores, read the right way, keep their trust


def test_calibration_refuses_a_slice_of_one_outcome() -> None:
    with pytest.raises(ValueError, match="both outcomes"):
        PlattCalibration.fit(np.array([0.4, 0.6, 0.7]), np.ones(3))


def test_calibration_error_is_large_on_noise_and_small_on_skill() -> None:
    """Labels that ignore the model leave the calibrated probability of a
    confident raw 0.7 uncertain by several points; labels that follow it,
    seen 16 times as often, pin it four times as tightly."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.3, 0.7, 2_000)
    noise = PlattCalibration.fit(p, (rng.random(len(p)) < 0.5).astype(float), horizon=48)
    assert noise.standard_error(np.array([0.7]))[0] > 0.05
    big = rng.uniform(0.3, 0.7, 32_000)
    small, large = (PlattCalibration.fit(q, (rng.random(len(q)) < q).astype(float), horizon=48) for q in (p, big))
    ratio = small.standard_error(np.array([0.7]))[0] / large.standard_error(np.array([0.7]))[0]
    assert ratio == pytest.approx(4.0, rel=0.25)


# -- 8. the promotion gate -------------------------------------------------------------


@pytest.fixture(scope="module")
def gate_predictors(newest_data):
    """A challenger that learnt the planted rule; a champion trained on
    shuffled labels, which learnt nothing."""
    cfg = tab_cfg("logistic")
    good = new_model(cfg, N_FEATURES)
    good.fit(newest_data, seed=0)
    shuffled = np.random.default_rng(0).permutation(newest_data.y_train)
    bad = new_model(cfg, N_FEATURES)
    bad.fit(dataclasses.replace(newest_data, y_train=shuffled), seed=0)
    make = lambda model, version: Predictor(model, newest_data.scaler, newest_data.columns,  # noqa: E731
                                            SEQ_LEN, version)
    return make(good, "good"), make(bad, "bad")


def test_gate_promotes_the_better_model_and_rejects_the_worse(gate_predictors, newest_data) -> None:
    good, bad = gate_predictors
    data = newest_data
    # Margins alone here; the significance test has its own tests.
    cfg = PromotionConfig(metric="auc", margin=0.0, min_windows=100, significance=None)
    auc_good = roc_auc_score(data.y_val, good.predict(data.x_val_raw))
    auc_bad = roc_auc_score(data.y_val, bad.predict(data.x_val_raw))
    # A random direction over informative features ranks a little by chance.
    assert auc_good > 0.9 and auc_bad < 0.7

    verdict = judge(good, bad, None, data, cfg)
    assert verdict.promote and verdict.metric == "auc"
    assert verdict.challenger == pytest.approx(auc_good, abs=1e-12)
    assert verdict.champion == pytest.approx(auc_bad, abs=1e-12)
    assert verdict.windows == len(data.y_val)

    assert not judge(bad, good, None, data, cfg).promote

    gap = auc_good - auc_bad
    assert not judge(good, bad, None, data, cfg.model_copy(update={"margin": gap + 0.01})).promote
    assert judge(good, bad, None, data, cfg.model_copy(update={"margin": gap - 0.01})).promote

    # Log loss: lower is better, the same way round.
    ll = cfg.model_copy(update={"metric": "log_loss"})
    verdict = judge(good, bad, None, data, ll)
    assert verdict.promote and verdict.metric == "log_loss" and verdict.challenger < verdict.champion
    assert not judge(bad, good, None, data, ll).promote
    ll_gap = verdict.champion - verdict.challenger
    assert not judge(good, bad, None, data, ll.model_copy(update={"margin": ll_gap + 0.01})).promote

    # No champion yet: the first model is always taken.
    assert judge(bad, None, None, data, cfg).promote


def test_gate_compares_on_windows_the_champion_never_saw(gate_predictors, newest_data) -> None:
    good, bad = gate_predictors
    data = newest_data
    label_ts = data.val_label_ts
    n_val = len(label_ts)
    assert np.all(np.diff(label_ts) > 0)
    cfg = PromotionConfig(metric="auc", margin=0.0, min_windows=100)

    def unseen_count(trained_to: int) -> int:
        return int(sum(1 for ts in label_ts if ts > trained_to))

    for k in (400, n_val - 1 - 100):  # 197 and exactly 100 unseen windows
        trained_to = int(label_ts[k])
        expected = unseen_count(trained_to)
        assert expected == n_val - 1 - k and expected >= cfg.min_windows
        verdict = judge(good, bad, trained_to, data, cfg)
        assert verdict.windows == expected
        assert "unseen" in verdict.reason
        newest = slice(n_val - expected, None)  # the unseen ones are the newest
        assert verdict.challenger == pytest.approx(
            roc_auc_score(data.y_val[newest], good.predict(data.x_val_raw[newest])), abs=1e-12)
        assert verdict.champion == pytest.approx(
            roc_auc_score(data.y_val[newest], bad.predict(data.x_val_raw[newest])), abs=1e-12)

    for k in (n_val - 1 - 99, n_val - 10, n_val - 1):  # 99, 9 and 0 unseen: too few
        trained_to = int(label_ts[k])
        assert unseen_count(trained_to) < cfg.min_windows
        verdict = judge(good, bad, trained_to, data, cfg)
        assert verdict.windows == n_val
        assert "validation" in verdict.reason

    # Trained before the validation slice: every window is unseen.
    assert judge(good, bad, int(label_ts[0]) - 1, data, cfg).windows == n_val


# -- 9. the training device ----------------------------------------------------------


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if not torch.cuda.is_available() and not mps:
        assert pick_device("auto") == torch.device("cpu")
    else:
        assert pick_device("auto").type in ("cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"model\.device"):
            pick_device("cuda")
    if not mps:
        with pytest.raises(ConfigError, match=r"model\.device"):
            pick_device("mps")
