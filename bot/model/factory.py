"""Model kinds by name: a fresh model to train, or a saved one to load.

Each kind's module is imported when that kind is first asked for: the
recurrent nets bring torch (two seconds of startup), the baselines
scikit-learn and LightGBM, and a run uses one kind, or none before its
first model."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from bot.config import ModelConfig

KINDS: dict[str, tuple[str, str]] = {  # kind -> (module, class)
    "lstm": ("bot.model.sequence_model", "SequenceModel"),
    "gru": ("bot.model.sequence_model", "SequenceModel"),
    "logistic": ("bot.model.tabular", "LinearModel"),
    "random_forest": ("bot.model.tabular", "ForestModel"),
    "lightgbm": ("bot.model.boosting", "BoostingModel"),
}


def model_class(kind: str):
    module, name = KINDS[kind]
    return getattr(import_module(module), name)


def new_model(cfg: ModelConfig, n_features: int):
    return model_class(cfg.kind)(cfg, n_features)


def load_model(directory: Path, cfg: ModelConfig, n_features: int):
    return model_class(cfg.kind).load(directory, cfg, n_features)
