"""Gradient-boosted trees (LightGBM) behind the model interface: like the
other tabular baselines it sees only the newest feature vector of each
window. It is the default model class of comparable bots, so the LSTM has
to beat it too.

The file is LightGBM's own text format (lightgbm.txt), never a pickle:
loading it runs no code. LightGBM's text parser trusts the file, though: a
truncated file aborts the interpreter (a parse error thrown inside an
OpenMP loop), and a child index out of range or a cycle makes prediction
read out of bounds or loop forever. So the text is checked line by line
here before LightGBM sees any of it, and only the checked part (the header
and the trees) is handed over.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, cast

import lightgbm
import numpy as np

from bot.config import ModelConfig
from bot.model.dataset import TrainingSet
from bot.model.tabular import TabularModel, _newest

FILE_NAME = "lightgbm.txt"


class BoostingModel(TabularModel):
    """Scores through the LightGBM Booster, both after fit (the fitted
    estimator's booster_) and after load, so the two give identical scores.
    A loaded model has a booster and no sklearn estimator."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        self.booster: lightgbm.Booster | None = None

    def _build(self, seed: int):
        # Fixed, conservative settings for noisy market data, not tuned per
        # run: many small steps (200 trees, learning rate 0.03) of small trees
        # (at most 15 leaves, each holding at least 100 training windows);
        # every tree sees a fresh 80% of the rows and 80% of the features;
        # L2 penalty 1.0 on the leaf values. One thread, deterministic and
        # row-wise histograms, so that a seed gives the same model every time.
        kwargs: dict[str, Any] = dict(
            n_estimators=200,
            learning_rate=0.03,
            num_leaves=15,
            min_child_samples=100,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            n_jobs=1,
            deterministic=True,
            force_row_wise=True,
            random_state=seed,
            verbose=-1,
        )
        if self.cfg.is_classifier:
            return lightgbm.LGBMClassifier(**kwargs)
        return lightgbm.LGBMRegressor(**kwargs)

    def fit(self, data: TrainingSet, seed: int) -> dict:
        result = super().fit(data, seed)
        self.booster = self.estimator.booster_
        return result

    def score(self, x: np.ndarray) -> np.ndarray:
        # Binary objective: the booster returns P(class 1); regression: the value.
        assert self.booster is not None  # set by fit or load
        return np.asarray(self.booster.predict(_newest(x), num_threads=1), dtype=np.float64)

    def save(self, directory: Path) -> None:
        assert self.booster is not None  # set by fit or load
        (directory / FILE_NAME).write_text(self.booster.model_to_string(), encoding="ascii")

    @classmethod
    def load(cls, directory: Path, cfg: ModelConfig, n_features: int) -> BoostingModel:
        text = check_model_text((directory / FILE_NAME).read_bytes(), n_features, cfg.is_classifier)
        try:
            booster = lightgbm.Booster(model_str=text)
        except lightgbm.basic.LightGBMError as e:
            raise ValueError(f"lightgbm file refused by LightGBM: {e}") from e
        n_file = booster.num_feature()
        if n_file != n_features:
            raise ValueError(f"lightgbm file has {n_file} features, the model expects {n_features}")
        model = cls(cfg, n_features)
        model.booster = booster
        return model


# -- checking the text before LightGBM parses it ------------------------------------

_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_HEADER_KEYS = {
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
}
_OBJECTIVE = {True: "binary sigmoid:1", False: "regression"}  # by is_classifier
# Arrays of a tree with num_leaves L: one entry per leaf, or per internal node (L - 1).
_LEAF_FLOATS = ("leaf_value", "leaf_weight")
_LEAF_INTS = ("leaf_count",)
_NODE_FLOATS = ("split_gain", "threshold", "internal_value", "internal_weight")
_NODE_INTS = ("split_feature", "decision_type", "left_child", "right_child", "internal_count")
_TREE_KEYS = {"num_leaves", "num_cat", "is_linear", "shrinkage", *_LEAF_FLOATS, *_LEAF_INTS, *_NODE_FLOATS, *_NODE_INTS}
# decision_type bits: 0 categorical (refused: never trained here), 1 default
# left, 2-3 missing-value type (0 none, 1 zero, 2 NaN).
_NUMERICAL_DECISIONS = {missing << 2 | left << 1 for missing in (0, 1, 2) for left in (0, 1)}
_END_OF_TREES = "end of trees\n"


def check_model_text(raw: bytes, n_features: int, is_classifier: bool) -> str:
    """The header and trees of a LightGBM text model, checked: a binary or
    regression objective as expected, n_features features, and trees whose
    byte sizes match the header and whose nodes form a proper binary tree
    over real features. Anything else: ValueError."""
    if not raw.startswith(b"tree\n"):
        raise ValueError("lightgbm file does not start with LightGBM's text header 'tree'")
    if re.search(rb"[^\x20-\x7e\n]", raw):
        raise ValueError("lightgbm file holds bytes other than printable ASCII and newlines")
    text = raw.decode("ascii")
    first_tree = text.find("\n\nTree=0\n")
    if first_tree < 0:
        raise ValueError("lightgbm file has no trees")
    header = _key_values(text[len("tree\n") : first_tree].split("\n"), "the header")
    if set(header) != _HEADER_KEYS:
        raise ValueError(f"lightgbm file header has keys {sorted(header)}, expected {sorted(_HEADER_KEYS)}")
    expected = {
        "version": "v4",
        "num_class": "1",
        "num_tree_per_iteration": "1",
        "label_index": "0",
        "objective": _OBJECTIVE[is_classifier],
    }
    for key, value in expected.items():
        if header[key] != value:
            raise ValueError(f"lightgbm file has {key}={header[key]!r}, expected {value!r}")
    if _INT.fullmatch(header["max_feature_idx"]) is None:
        raise ValueError("lightgbm file has a malformed max_feature_idx")
    n_file = int(header["max_feature_idx"]) + 1
    if n_file != n_features:
        raise ValueError(f"lightgbm file has {n_file} features, the model expects {n_features}")
    for key in ("feature_names", "feature_infos"):
        if len(_tokens(header[key], key)) != n_features:
            raise ValueError(f"lightgbm file has {key} for other than {n_features} features")
    sizes = _ints(_tokens(header["tree_sizes"], "tree_sizes"), "tree_sizes")
    if not sizes or min(sizes) < 1:
        raise ValueError("lightgbm file has no trees or an empty tree size")

    position = first_tree + 2  # LightGBM reads tree i at this plus the sizes before it
    for i, size in enumerate(sizes):
        _check_tree(text[position : position + size], i, n_features)
        position += size
    if not text.startswith(_END_OF_TREES, position):
        raise ValueError("lightgbm file's tree sizes do not end at 'end of trees'")
    return text[:position] + _END_OF_TREES


def _tokens(value: str, what: str) -> list[str]:
    tokens = value.split(" ") if value else []
    if "" in tokens:
        raise ValueError(f"lightgbm file has a malformed {what}")
    return tokens


def _ints(tokens: list[str], what: str) -> list[int]:
    if any(_INT.fullmatch(t) is None for t in tokens):
        raise ValueError(f"lightgbm file has a non-integer in {what}")
    return [int(t) for t in tokens]


def _floats(tokens: list[str], what: str) -> list[float]:
    if any(_FLOAT.fullmatch(t) is None for t in tokens):
        raise ValueError(f"lightgbm file has a non-number in {what}")
    values = [float(t) for t in tokens]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"lightgbm file has a non-finite number in {what}")
    return values


def _key_values(lines: list[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        parts = line.split("=")
        if len(parts) != 2 or not parts[0] or parts[0] in out:
            raise ValueError(f"lightgbm file has a malformed or repeated line in {where}: {line[:60]!r}")
        out[parts[0]] = parts[1]
    return out


def _check_tree(block: str, i: int, n_features: int) -> None:
    """One tree as LightGBM writes it: 'Tree=i', its key=value lines, two
    blank lines."""
    lines = block.split("\n")
    if len(lines) < 5 or lines[0] != f"Tree={i}" or lines[-3:] != ["", "", ""]:
        raise ValueError(f"lightgbm file's tree {i} does not match its size in tree_sizes")
    where = f"tree {i}"
    kv = _key_values(lines[1:-3], where)
    if set(kv) != _TREE_KEYS:
        raise ValueError(f"lightgbm file's tree {i} has keys {sorted(kv)}, expected {sorted(_TREE_KEYS)}")
    if kv["num_cat"] != "0" or kv["is_linear"] != "0":
        raise ValueError(f"lightgbm file's tree {i} has categorical or linear leaves (never trained here)")
    _floats([kv["shrinkage"]], where)
    (n_leaves,) = _ints([kv["num_leaves"]], where)
    if n_leaves < 1:
        raise ValueError(f"lightgbm file's tree {i} has no leaves")
    arrays = {}
    for keys, count, parse in (
        (_LEAF_FLOATS, n_leaves, _floats),
        (_LEAF_INTS, n_leaves, _ints),
        (_NODE_FLOATS, n_leaves - 1, _floats),
        (_NODE_INTS, n_leaves - 1, _ints),
    ):
        for key in keys:
            values = parse(_tokens(kv[key], f"{where} {key}"), f"{where} {key}")
            # A single-leaf tree is written with empty arrays but its value;
            # LightGBM then reads leaf_value only.
            if len(values) != count and not (n_leaves == 1 and key != "leaf_value" and not values):
                raise ValueError(f"lightgbm file's tree {i} has {len(values)} {key}, expected {count}")
            arrays[key] = values
    if any(f < 0 or f >= n_features for f in arrays["split_feature"]):
        raise ValueError(f"lightgbm file's tree {i} has a feature index out of range")
    if any(d not in _NUMERICAL_DECISIONS for d in arrays["decision_type"]):
        raise ValueError(f"lightgbm file's tree {i} has an unknown or categorical decision type")
    # The child arrays are among _NODE_INTS, parsed by _ints: lists of int.
    _check_children(cast(list[int], arrays["left_child"]), cast(list[int], arrays["right_child"]), n_leaves, i)


def _check_children(left: list[int], right: list[int], n_leaves: int, i: int) -> None:
    """LightGBM walks from node 0: a child c >= 0 is internal node c, c < 0
    is leaf ~c. A proper tree: every child points to a later internal node
    (so no cycles) or a leaf in range, and every node but the root and every
    leaf is reached exactly once."""
    n_inner = n_leaves - 1
    if n_inner == 0:
        return  # a single leaf: LightGBM reads no children
    seen_inner, seen_leaves = [0] * n_inner, [0] * n_leaves
    for node in range(n_inner):
        for child in (left[node], right[node]):
            if child >= 0:
                if not node < child < n_inner:
                    raise ValueError(f"lightgbm file's tree {i} has a child index out of range or pointing backwards")
                seen_inner[child] += 1
            else:
                if ~child >= n_leaves:
                    raise ValueError(f"lightgbm file's tree {i} has a leaf index out of range")
                seen_leaves[~child] += 1
    if seen_inner[1:] != [1] * (n_inner - 1) or seen_leaves != [1] * n_leaves:
        raise ValueError(f"lightgbm file's tree {i} is not a tree: a node is reached twice or never")
