"""Tests for bot.model.boosting: the LightGBM baseline, trained for real on
small synthetic series whose answer is known (the approach of
tests/test_models.py, with its own small helpers), and its text file:
saved without pickle, loaded back exactly, and refused when tampered with.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import lightgbm
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bot.config import ModelConfig
from bot.features.spec import FEATURE_NAMES
from bot.model.boosting import FILE_NAME, BoostingModel, check_model_text
from bot.model.dataset import SymbolSeries, TrainingSet, build_training_set
from bot.model.factory import load_model, new_model
from bot.model.tabular import _newest

HOUR = 3_600_000
START_TS = 1_700_000_000_000
N_FEATURES = len(FEATURE_NAMES)
SEQ_LEN = 8
N_ROWS = 3000
FLIP = 0.05  # share of directions flipped against the planted rule
HEADS = ("classification", "regression")
REPO = Path(__file__).resolve().parent.parent


def boost_cfg(head: str = "classification") -> ModelConfig:
    return ModelConfig(kind="lightgbm", seq_len=SEQ_LEN, threads=1, head=head)


def planted_series(seed: int, n: int = N_ROWS) -> SymbolSeries:
    """The next close rises iff v[t, 0] - 0.7 v[t, 3] > 0 (the newest vector
    suffices), with FLIP of the directions flipped as noise."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, N_FEATURES))
    up = (vectors[:, 0] - 0.7 * vectors[:, 3] > 0) ^ (rng.random(n) < FLIP)
    size = np.abs(rng.normal(0.01, 0.003, n)) + 1e-4
    log_return = np.where(up, size, -size)  # close[t] -> close[t+1]
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(log_return[:-1])]))
    return SymbolSeries(ts=START_TS + np.arange(n, dtype=np.int64) * HOUR, close=close, vectors=vectors)


def random_walk_series(seed: int, n: int = N_ROWS) -> SymbolSeries:
    """Closes independent of the features: nothing to learn."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, N_FEATURES))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    return SymbolSeries(ts=START_TS + np.arange(n, dtype=np.int64) * HOUR, close=close, vectors=vectors)


def accuracy(prob: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean((prob > 0.5) == (label > 0.5)))


@pytest.fixture(scope="module")
def planted_data() -> TrainingSet:
    data = build_training_set([planted_series(seed=23)], SEQ_LEN, 0.2)
    assert data is not None
    return data


@pytest.fixture(scope="module")
def fitted(planted_data) -> dict[str, BoostingModel]:
    models = {}
    for head in HEADS:
        model = new_model(boost_cfg(head), N_FEATURES)
        model.fit(planted_data, seed=1)
        models[head] = model
    return models


@pytest.fixture(scope="module")
def saved_text(fitted, tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("saved")
    fitted["classification"].save(directory)
    return (directory / FILE_NAME).read_text()


# -- the model --------------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS)
def test_factory_makes_a_boosting_model_with_the_fixed_settings(head) -> None:
    model = new_model(boost_cfg(head), N_FEATURES)
    assert isinstance(model, BoostingModel)
    estimator = model._build(seed=42)
    wanted = lightgbm.LGBMClassifier if head == "classification" else lightgbm.LGBMRegressor
    assert type(estimator) is wanted
    expected = dict(n_estimators=200, learning_rate=0.03, num_leaves=15, min_child_samples=100,
                    subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, n_jobs=1,
                    deterministic=True, force_row_wise=True, random_state=42, verbose=-1)
    params = estimator.get_params()
    assert {k: params[k] for k in expected} == expected


def test_learns_a_planted_rule_in_the_newest_vector(fitted, planted_data) -> None:
    prob = fitted["classification"].score(planted_data.x_val)
    assert prob.dtype == np.float64 and prob.shape == (len(planted_data.x_val),)
    assert np.all((prob > 0) & (prob < 1))
    # The rule explains 95% of the labels; about 92% is measured.
    assert accuracy(prob, planted_data.y_val) > 0.85
    assert roc_auc_score(planted_data.y_val, prob) > 0.9
    # Scores are the estimator's own probabilities of class 1.
    sklearn_prob = fitted["classification"].estimator.predict_proba(_newest(planted_data.x_val))[:, 1]
    np.testing.assert_allclose(prob, sklearn_prob, rtol=0, atol=1e-12)


def test_regression_head_predicts_the_log_return(fitted, planted_data) -> None:
    predicted = fitted["regression"].score(planted_data.x_val)
    assert predicted.dtype == np.float64 and predicted.shape == (len(planted_data.x_val),)
    realized = planted_data.r_val
    assert (predicted < 0).mean() > 0.2 and (predicted > 0).mean() > 0.2
    assert np.abs(predicted).max() < 5 * realized.std()  # log returns in the data's units
    assert np.corrcoef(predicted, realized)[0, 1] > 0.6
    assert accuracy(predicted + 0.5, planted_data.y_val) > 0.85  # the sign is right


def test_only_the_newest_vector_counts(fitted, planted_data) -> None:
    model = fitted["classification"]
    x = planted_data.x_val.copy()
    scrambled = x.copy()
    scrambled[:, :-1, :] = np.random.default_rng(0).standard_normal(scrambled[:, :-1, :].shape)
    np.testing.assert_array_equal(model.score(x), model.score(scrambled))
    changed = x.copy()
    changed[:, -1, 0] += 1.0
    assert not np.array_equal(model.score(x), model.score(changed))


def test_random_walk_scores_stay_near_one_half() -> None:
    data = build_training_set([random_walk_series(seed=5)], SEQ_LEN, 0.2)
    model = new_model(boost_cfg(), N_FEATURES)
    model.fit(data, seed=0)
    prob = model.score(data.x_val)
    outside = lambda p: float(np.mean(np.abs(p - 0.5) > 0.15))  # noqa: E731  beyond [0.35, 0.65]
    # Measured over four random walks: accuracy 0.46-0.52, 8-14% of the
    # windows beyond [0.35, 0.65], median distance from 0.5 about 0.065.
    assert abs(accuracy(prob, data.y_val) - 0.5) <= 0.07
    assert outside(prob) < 0.2
    assert np.median(np.abs(prob - 0.5)) < 0.1
    # The bound has teeth: LightGBM's own defaults (31 leaves of 20 windows,
    # learning rate 0.1) overfit the same noise and put ~40% beyond it.
    loose = lightgbm.LGBMClassifier(n_jobs=1, random_state=0, verbose=-1)
    loose.fit(_newest(data.x_train), data.y_train.astype(int))
    assert outside(loose.predict_proba(_newest(data.x_val))[:, 1]) > 0.3


def test_same_seed_same_scores_other_seed_other_scores(planted_data) -> None:
    scores = []
    for seed in (7, 7, 8):
        model = new_model(boost_cfg(), N_FEATURES)
        model.fit(planted_data, seed)
        scores.append(model.score(planted_data.x_val))
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.allclose(scores[0], scores[2])


# -- the file -----------------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS)
def test_save_load_round_trip_gives_identical_scores(head, fitted, planted_data, tmp_path) -> None:
    model = fitted[head]
    x = planted_data.x_val
    original = model.score(x)
    model.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    raw = (tmp_path / FILE_NAME).read_bytes()
    assert raw.startswith(b"tree\nversion=v4\n")  # LightGBM's text format...
    raw.decode("ascii")  # ...all of it text: no pickle (whose protocol 2+ starts with 0x80)
    assert b"\x80" not in raw

    loaded = load_model(tmp_path, boost_cfg(head), N_FEATURES)
    assert type(loaded) is BoostingModel and loaded.estimator is None
    again = loaded.score(x)
    assert again.dtype == np.float64 and again.shape == original.shape
    np.testing.assert_allclose(again, original, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(again, original)  # in fact bit for bit
    np.testing.assert_array_equal(loaded.score(x[:1]), original[:1])


def test_round_trip_of_single_leaf_trees(tmp_path) -> None:
    """Too few windows for a split of 100 + 100: every tree is one leaf,
    which LightGBM writes with empty arrays. The check must accept that."""
    data = build_training_set([planted_series(seed=3, n=200)], SEQ_LEN, 0.2)
    assert len(data.x_train) < 200
    model = new_model(boost_cfg(), N_FEATURES)
    model.fit(data, seed=0)
    assert "num_leaves=1\n" in model.booster.model_to_string()
    model.save(tmp_path)
    loaded = load_model(tmp_path, boost_cfg(), N_FEATURES)
    np.testing.assert_array_equal(loaded.score(data.x_val), model.score(data.x_val))
    assert np.ptp(model.score(data.x_val)) == 0  # one leaf: one score for everything


@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 1])
def test_file_with_another_feature_count_is_refused(n_features, fitted, tmp_path) -> None:
    fitted["classification"].save(tmp_path)
    with pytest.raises(ValueError, match=f"has {N_FEATURES} features, the model expects {n_features}$"):
        load_model(tmp_path, boost_cfg(), n_features)


def test_file_of_the_other_head_is_refused(fitted, tmp_path) -> None:
    fitted["classification"].save(tmp_path)
    with pytest.raises(ValueError, match="objective"):
        load_model(tmp_path, boost_cfg("regression"), N_FEATURES)


@pytest.mark.parametrize("content", [
    b"",
    b"hello world\n",
    b"tree\n",
    pickle.dumps({"not": "a model"}),
    np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
    np.random.default_rng(2).integers(32, 127, 4000, dtype=np.uint8).tobytes(),
], ids=["empty", "words", "header-only", "pickle", "random-bytes", "random-ascii"])
def test_garbage_file_is_refused(content, tmp_path) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    with pytest.raises(ValueError):
        load_model(tmp_path, boost_cfg(), N_FEATURES)


# LightGBM's own parser trusts the file: a truncated file aborts the
# interpreter, a bad child index makes prediction read out of bounds or
# loop. These edits are checked by check_model_text alone, so a failing
# check fails a test instead of killing the test run.


def _tree_line(text: str, key: str) -> str:
    """The `key=` line of the first tree with more than one leaf."""
    start = re.search(r"^Tree=\d+\nnum_leaves=([2-9]|\d\d+)\n", text, re.M).start()
    return re.compile(rf"^{key}=.*$", re.M).search(text, start).group(0)


def _retree(text: str, key: str, edit) -> str:
    """Edit one array of that tree and fix the header's tree_sizes so that
    only the tree's structure is wrong, not its size."""
    line = _tree_line(text, key)
    values = line.split("=", 1)[1].split(" ")
    new_line = f"{key}=" + " ".join(str(v) for v in edit(values))
    tree = int(re.findall(r"^Tree=(\d+)$", text[: text.index(line)], re.M)[-1])
    sizes = [int(s) for s in re.search(r"^tree_sizes=(.*)$", text, re.M).group(1).split(" ")]
    sizes[tree] += len(new_line) - len(line)
    text = text.replace(line, new_line, 1)
    return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(map(str, sizes)), text, count=1, flags=re.M)


def _set(index: int, value):
    def edit(values):
        return [value if i == index else v for i, v in enumerate(values)]
    return edit


def _first(text: str, key: str) -> str:
    return _tree_line(text, key).split("=")[1].split(" ")[0]


def _n_leaves(text: str) -> int:
    return int(_first(text, "num_leaves"))


def _drop_last_tree_size(text: str) -> str:
    return re.sub(r"^(tree_sizes=.*) \d+$", r"\1", text, count=1, flags=re.M)


def _add_header_line(line: str):
    return lambda t: t.replace("version=v4\n", f"version=v4\n{line}\n", 1)


# name: (edit, why it is refused)
TAMPERED = {
    "truncated in the trees": (lambda t: t[: len(t) // 2], "does not match its size"),
    "truncated in the header": (lambda t: t[:300], "no trees"),
    "tree bigger than its size": (lambda t: t.replace("shrinkage=", "shrinkage=0", 1),
                                  "does not match its size"),
    "tree count off": (_drop_last_tree_size, "do not end at 'end of trees'"),
    "child past the last node": (lambda t: _retree(t, "left_child", _set(0, _n_leaves(t) - 1)),
                                 "child index out of range"),
    "child pointing to itself": (lambda t: _retree(t, "left_child", _set(0, 0)), "child index out of range"),
    "leaf past the last": (lambda t: _retree(t, "right_child", _set(0, -_n_leaves(t) - 1)),
                           "leaf index out of range"),
    "node reached twice": (lambda t: _retree(t, "right_child", _set(0, _first(t, "left_child"))),
                           "reached twice or never"),
    "feature past the last": (lambda t: _retree(t, "split_feature", _set(0, N_FEATURES)),
                              "feature index out of range"),
    "negative feature": (lambda t: _retree(t, "split_feature", _set(0, -1)), "feature index out of range"),
    "categorical split": (lambda t: _retree(t, "decision_type", _set(0, 1)), "categorical decision type"),
    "categorical count": (lambda t: _retree(t, "num_cat", lambda v: [1]), "categorical or linear"),
    "a node too few": (lambda t: _retree(t, "threshold", lambda v: v[1:]), "threshold, expected"),
    "infinite leaf": (lambda t: _retree(t, "leaf_value", _set(0, "1e999")), "non-finite number"),
    "nan leaf": (lambda t: _retree(t, "leaf_value", _set(0, "nan")), "non-number"),
    "text for a number": (lambda t: _retree(t, "left_child", _set(0, "x")), "non-integer"),
    "multiclass": (lambda t: t.replace("num_class=1\n", "num_class=3\n", 1), "num_class"),
    "unknown header key": (_add_header_line("linear_tree=1"), "header has keys"),
    "line without key": (_add_header_line("nonsense"), "malformed or repeated line"),
    "NUL byte": (lambda t: t.replace("version=v4", "version=v4\0", 1), "printable ASCII"),
}


def test_tamper_helpers_keep_an_untouched_tree_valid(saved_text) -> None:
    """Rewriting a tree line unchanged passes the check: the refusals below
    are for the edits, not for the helper."""
    same = _retree(saved_text, "left_child", lambda v: v)
    assert same == saved_text
    check_model_text(same.encode(), N_FEATURES, is_classifier=True)
    # An edit that keeps the tree proper passes too: swapping a node's
    # children only mirrors the tree.
    left, right = _first(saved_text, "left_child"), _first(saved_text, "right_child")
    mirrored = _retree(_retree(saved_text, "left_child", _set(0, right)), "right_child", _set(0, left))
    check_model_text(mirrored.encode(), N_FEATURES, is_classifier=True)


@pytest.mark.parametrize("edit, reason", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_text_is_refused_before_lightgbm_reads_it(edit, reason, saved_text) -> None:
    tampered = edit(saved_text)
    assert tampered != saved_text
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_model_text(tampered.encode(), N_FEATURES, is_classifier=True)


@pytest.mark.slow  # about 6 s here, nearly all of it the child's imports (torch via sklearn, skops)
def test_truncated_file_leaves_the_interpreter_running(saved_text, tmp_path) -> None:
    """End to end in a child interpreter, so an abort inside LightGBM would
    show as a dead process rather than kill this test run."""
    (tmp_path / FILE_NAME).write_text(saved_text[: len(saved_text) // 2])
    script = (
        "import sys\nfrom pathlib import Path\nfrom bot.config import ModelConfig\n"
        "from bot.model.boosting import BoostingModel\n"
        "try:\n"
        f"    cfg = ModelConfig(kind='lightgbm', seq_len={SEQ_LEN})\n"
        f"    BoostingModel.load(Path(sys.argv[1]), cfg, {N_FEATURES})\n"
        "except ValueError as e:\n    print('refused:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("refused:")
