"""Baselines behind the model interface: logistic (ridge for returns) and
random-forest models that see only the newest feature vector of each
window. If the LSTM cannot beat these on the same features, its memory of
the window is not earning its keep.

Files: the linear models as plain JSON numbers; the forest through skops,
which refuses arbitrary pickled code. skops also flags sklearn's Tree node
arrays, whose indices sklearn trusts blindly; those are checked for range
here before the forest is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from bot.config import ModelConfig
from bot.model.dataset import TrainingSet


def _newest(x: np.ndarray) -> np.ndarray:
    return x[:, -1, :].astype(np.float64)


class TabularModel:
    """Shared fit and score; subclasses build, save and load the estimator."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        self.cfg = cfg
        self.n_features = n_features
        self.estimator: Any = None  # a scikit-learn (or LightGBM) estimator once built or loaded

    def _build(self, seed: int) -> Any:
        """A fresh, unfitted estimator: each subclass builds its own."""
        raise NotImplementedError

    def fit(self, data: TrainingSet, seed: int) -> dict:
        self.estimator = self._build(seed)
        y = data.y_train.astype(int) if self.cfg.is_classifier else np.log1p(data.r_train)
        self.estimator.fit(_newest(data.x_train), y)
        return {"best_epoch": None, "epochs_run": None}

    def score(self, x: np.ndarray) -> np.ndarray:
        features = _newest(x)
        if self.cfg.is_classifier:
            return self.estimator.predict_proba(features)[:, 1]
        return self.estimator.predict(features).astype(np.float64)


class LinearModel(TabularModel):
    def _build(self, seed: int):
        if self.cfg.is_classifier:
            return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        return Ridge(alpha=1.0)

    def save(self, directory: Path) -> None:
        e = self.estimator
        data = {"coef": e.coef_.tolist(), "intercept": np.atleast_1d(e.intercept_).tolist()}
        if self.cfg.is_classifier:
            data["classes"] = e.classes_.tolist()
        (directory / "linear.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path, cfg: ModelConfig, n_features: int) -> LinearModel:
        model = cls(cfg, n_features)
        data = json.loads((directory / "linear.json").read_text())
        estimator = model._build(0)
        estimator.coef_ = np.asarray(data["coef"], dtype=np.float64)
        intercept = np.asarray(data["intercept"], dtype=np.float64)
        if cfg.is_classifier:
            estimator.intercept_ = intercept
            estimator.classes_ = np.asarray(data["classes"])
        else:
            estimator.intercept_ = float(intercept[0])
        estimator.n_features_in_ = n_features
        model.estimator = estimator
        return model


class ForestModel(TabularModel):
    def _build(self, seed: int):
        kwargs = dict(
            n_estimators=self.cfg.n_estimators,
            max_depth=self.cfg.max_depth,
            min_samples_leaf=self.cfg.min_samples_leaf,
            random_state=seed,
            n_jobs=1,
        )
        if self.cfg.is_classifier:
            return RandomForestClassifier(**kwargs)
        return RandomForestRegressor(**kwargs)

    def save(self, directory: Path) -> None:
        import skops.io  # imports every sklearn estimator: seconds, paid only where forests are saved

        skops.io.dump(self.estimator, directory / "forest.skops")

    @classmethod
    def load(cls, directory: Path, cfg: ModelConfig, n_features: int) -> ForestModel:
        model = cls(cfg, n_features)
        import skops.io

        model.estimator = skops.io.load(directory / "forest.skops", trusted=["sklearn.tree._tree.Tree"])
        _check_trees(model.estimator, n_features)
        return model

    def score(self, x: np.ndarray) -> np.ndarray:
        """The forest's own average of its trees, walked here: sklearn sends
        each tree through joblib, which costs ~25 ms for the one row a bar
        scores; this loop gives the same numbers, bit for bit, in a tenth."""
        features = np.ascontiguousarray(_newest(x), dtype=np.float32)  # the dtype trees split on
        total: Any = 0.0  # then the sum of the trees' value arrays
        for tree in (t.tree_ for t in self.estimator.estimators_):
            value = tree.value[tree.apply(features)][:, 0, :]
            if self.cfg.is_classifier:
                value = value / value.sum(axis=1, keepdims=True)
            total = total + value
        mean = total / len(self.estimator.estimators_)
        return (mean[:, 1] if self.cfg.is_classifier else mean[:, 0]).astype(np.float64)


def _check_trees(forest, n_features: int) -> None:
    """sklearn walks tree nodes without bounds checks. A tree is safe when
    every leaf has no children and every internal node splits on a real
    feature and points to two later nodes: in range, and no cycles."""
    for tree in (t.tree_ for t in forest.estimators_):
        left, right, feature = tree.children_left, tree.children_right, tree.feature
        index = np.arange(tree.node_count)
        leaf = left == -1
        if not np.all(right[leaf] == -1):
            raise ValueError("forest file has a leaf with a child")
        inner = ~leaf
        for children in (left[inner], right[inner]):
            if np.any(children <= index[inner]) or np.any(children >= tree.node_count):
                raise ValueError("forest file has a child index out of range or pointing backwards")
        if np.any(feature[inner] < 0) or np.any(feature[inner] >= n_features):
            raise ValueError("forest file has a feature index out of range")
