"""Technical features for the model, computed bar by bar (live) or on a whole series (training)."""

from bot.features.batch import compute_features
from bot.features.incremental import FeatureState
from bot.features.spec import FEATURE_NAMES

__all__ = ["FEATURE_NAMES", "FeatureState", "compute_features"]
