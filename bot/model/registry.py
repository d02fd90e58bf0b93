"""Model versions: files under <models_dir>/<version>/ plus a database row.

A version directory holds weights.pt (a state dict, loaded with
weights_only=True so a tampered file cannot run code), scaler.json,
config.json and metrics.json. Files are written to a temporary directory
and renamed into place, so a crash never leaves half a model behind.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import torch

from bot.config import ModelConfig
from bot.features import FEATURE_NAMES
from bot.model.lstm import LSTMClassifier
from bot.model.predictor import Predictor
from bot.model.scaler import Scaler
from bot.model.trainer import TrainedModel
from bot.store import Store
from bot.store.tables import ModelVersionRow


class ModelRegistry:
    def __init__(self, store: Store, models_dir: Path) -> None:
        self.store = store
        self.models_dir = models_dir

    def version_name(self, created_ts: int) -> str:
        """Deterministic: sequence number and clock time of the retrain."""
        n = len(self.store.model_versions()) + 1
        stamp = datetime.fromtimestamp(created_ts / 1000, tz=timezone.utc).strftime("%Y%m%dT%H%M")
        return f"v{n:04d}-{stamp}"

    def register(self, trained: TrainedModel, scaler: Scaler, cfg: ModelConfig, *, version: str,
                 created_ts: int, from_ts: int, to_ts: int, config_hash: str, champion: bool) -> ModelVersionRow:
        path = self._write_files(version, trained, scaler, cfg)
        row = ModelVersionRow(
            version=version, created_ts=created_ts, train_from_ts=from_ts, train_to_ts=to_ts,
            n_train=trained.metrics["n_train"], n_val=trained.metrics["n_val"],
            metrics_json=json.dumps(trained.metrics, sort_keys=True),
            status="champion" if champion else "candidate", path=str(path), config_hash=config_hash,
        )
        self.store.add_model_version(row, retire_champion=champion)
        return row

    def _write_files(self, version: str, trained: TrainedModel, scaler: Scaler, cfg: ModelConfig) -> Path:
        final = self.models_dir / version
        tmp = self.models_dir / f".{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(trained.module.state_dict(), tmp / "weights.pt")
        (tmp / "scaler.json").write_text(json.dumps(scaler.to_json()))
        (tmp / "config.json").write_text(json.dumps(
            {"model": cfg.model_dump(), "features": list(FEATURE_NAMES)}, indent=2))
        (tmp / "metrics.json").write_text(json.dumps(trained.metrics, indent=2, sort_keys=True))
        shutil.rmtree(final, ignore_errors=True)  # a retrain interrupted before its DB row
        tmp.rename(final)
        return final

    def load(self, row: ModelVersionRow) -> Predictor:
        path = Path(row.path)
        saved = json.loads((path / "config.json").read_text())
        if saved["features"] != list(FEATURE_NAMES):
            raise ValueError(f"model {row.version} was trained on other features")
        cfg = ModelConfig(**saved["model"])
        module = LSTMClassifier(len(FEATURE_NAMES), cfg.hidden_size, cfg.num_layers, cfg.dropout)
        module.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        scaler = Scaler.from_json(json.loads((path / "scaler.json").read_text()))
        return Predictor(module, scaler, cfg.seq_len, row.version)

    def load_champion(self) -> Predictor | None:
        row = self.store.champion()
        return self.load(row) if row else None
