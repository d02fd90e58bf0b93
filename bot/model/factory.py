"""Model kinds by name: a fresh model to train, or a saved one to load."""

from __future__ import annotations

from pathlib import Path

from bot.config import ModelConfig
from bot.model.boosting import BoostingModel
from bot.model.sequence_model import SequenceModel
from bot.model.tabular import ForestModel, LinearModel

KINDS: dict[str, type[SequenceModel] | type[LinearModel] | type[ForestModel] | type[BoostingModel]] = {
    "lstm": SequenceModel,
    "gru": SequenceModel,
    "logistic": LinearModel,
    "random_forest": ForestModel,
    "lightgbm": BoostingModel,
}


def new_model(cfg: ModelConfig, n_features: int):
    return KINDS[cfg.kind](cfg, n_features)


def load_model(directory: Path, cfg: ModelConfig, n_features: int):
    return KINDS[cfg.kind].load(directory, cfg, n_features)
