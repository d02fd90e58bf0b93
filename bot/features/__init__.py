"""Technical features for the model, computed bar by bar (live, here) or on
a whole series (training: bot.features.batch, which needs pandas and is
imported where it is used, so that the config, and with it every `bot`
command, loads without pandas)."""

from bot.features.incremental import FeatureState
from bot.features.spec import FEATURE_NAMES

__all__ = ["FEATURE_NAMES", "FeatureState"]
