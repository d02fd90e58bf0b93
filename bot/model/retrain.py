"""The retrain job: when due, train a new model on the newest history,
register it and make it the champion.

Due means: no model yet and enough history, or `retrain.every_days` since
the last version. The check reads only the clock and the registry, so a
restarted run finds exactly the retrains an uninterrupted one would do.
"""

from __future__ import annotations

import structlog

from bot.config import Config
from bot.domain import Event
from bot.engine import Engine
from bot.model.dataset import build_training_set
from bot.model.registry import ModelRegistry
from bot.model.trainer import train_lstm
from bot.store.tables import ModelVersionRow

log = structlog.get_logger("bot.retrain")

DAY_MS = 86_400_000


class Retrainer:
    def __init__(self, config: Config, engine: Engine, registry: ModelRegistry) -> None:
        self.config = config
        self.engine = engine
        self.registry = registry

    def is_due(self, now_ms: int) -> bool:
        versions = self.registry.store.model_versions()
        if not versions:
            return self.engine.bars_seen() >= self.config.retrain.initial_train_bars
        return now_ms >= versions[-1].created_ts + self.config.retrain.every_days * DAY_MS

    def run(self, now_ms: int) -> ModelVersionRow | None:
        cfg = self.config
        series = self.engine.training_series(cfg.retrain.train_window_bars)
        data = build_training_set(series, cfg.model.seq_len, cfg.model.val_fraction)
        if data is None:
            self._event(now_ms, "retrain_skipped", "too little history for a train/validation split", "warning")
            return None
        version = self.registry.version_name(now_ms)
        # A different but reproducible seed per version.
        seed = cfg.seed + len(self.registry.store.model_versions())
        trained = train_lstm(data, cfg.model, seed)
        row = self.registry.register(
            trained, data.scaler, cfg.model, version=version, created_ts=now_ms, from_ts=data.from_ts,
            to_ts=data.to_ts, config_hash=cfg.decision_hash(), champion=True)
        self.engine.set_predictor(self.registry.load(row))
        m = trained.metrics
        self._event(now_ms, "model_trained", f"{version} champion: val AUC {m['val_auc']}, accuracy "
                    f"{m['val_accuracy']:.3f}, {m['epochs_run']} epochs in {m['train_seconds']}s", "info",
                    {"version": version, **m})
        return row

    def _event(self, ts: int, kind: str, message: str, level: str, data: dict | None = None) -> None:
        self.registry.store.add_event(Event(ts, kind, message, level=level, data=data))
        getattr(log, level)(kind, message=message)
