"""Model versions: files under <models_dir>/<version>/ plus a database row.

A version directory holds the model's own files (weights.pt and net.onnx,
linear.json or forest.skops), scaler.json, predictor.json (return spread,
calibration), config.json and metrics.json. Nothing in it is unpickled:
weights load with weights_only=True, the rest is JSON, ONNX or checked
skops. Files are written to a temporary directory and renamed into place,
so a crash never leaves half a model behind.

Statuses: champion (the one trading; at most one), candidate (trained, not
yet judged), rejected (lost to the champion), retired (a former champion).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.config import ModelConfig
from bot.features import FEATURE_NAMES
from bot.model.calibration import PlattCalibration
from bot.model.factory import load_model
from bot.model.predictor import EdgeMap, Predictor
from bot.model.regime import RegimeModel
from bot.model.targets import Target
from bot.model.volatility import VolatilityModel
from bot.model.scaler import Scaler
from bot.store import Store
from bot.store.tables import ModelVersionRow


@dataclass(frozen=True)
class Candidate:
    """A freshly trained model and what the registry stores with it."""

    predictor: Predictor
    cfg: ModelConfig
    metrics: dict
    from_ts: int
    to_ts: int


class ModelRegistry:
    def __init__(self, store: Store, models_dir: Path) -> None:
        self.store = store
        self.models_dir = models_dir

    def version_name(self, created_ts: int) -> str:
        """Deterministic: sequence number and clock time of the retrain."""
        n = len(self.store.model_versions()) + 1
        stamp = datetime.fromtimestamp(created_ts / 1000, tz=timezone.utc).strftime("%Y%m%dT%H%M")
        return f"v{n:04d}-{stamp}"

    def register(self, candidate: Candidate, *, created_ts: int, config_hash: str, champion: bool) -> ModelVersionRow:
        p = candidate.predictor
        path = self._write_files(candidate)
        row = ModelVersionRow(
            version=p.version, created_ts=created_ts, train_from_ts=candidate.from_ts, train_to_ts=candidate.to_ts,
            n_train=candidate.metrics["n_train"], n_val=candidate.metrics["n_val"], kind=candidate.cfg.kind,
            metrics_json=json.dumps(candidate.metrics, sort_keys=True),
            status="champion" if champion else "rejected", path=str(path), config_hash=config_hash,
        )
        self.store.add_model_version(row, retire_champion=champion)
        return row

    def _write_files(self, candidate: Candidate) -> Path:
        p = candidate.predictor
        final = self.models_dir / p.version
        tmp = self.models_dir / f".{p.version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        p.model.save(tmp)
        (tmp / "scaler.json").write_text(json.dumps(p.scaler.to_json()))
        (tmp / "predictor.json").write_text(json.dumps(_predictor_json(p), indent=2))
        (tmp / "config.json").write_text(json.dumps(
            {"model": candidate.cfg.model_dump(), "features": list(FEATURE_NAMES), "columns": p.columns}, indent=2))
        (tmp / "metrics.json").write_text(json.dumps(candidate.metrics, indent=2, sort_keys=True))
        shutil.rmtree(final, ignore_errors=True)  # a retrain interrupted before its DB row
        tmp.rename(final)
        return final

    def load(self, row: ModelVersionRow) -> Predictor:
        path = Path(row.path)
        saved = json.loads((path / "config.json").read_text())
        if saved["features"] != list(FEATURE_NAMES):
            raise ValueError(f"model {row.version} was trained on another feature set")
        cfg = ModelConfig(**saved["model"])
        columns = saved["columns"]
        extra = json.loads((path / "predictor.json").read_text())
        return Predictor(
            model=load_model(path, cfg, len(columns)),
            scaler=Scaler.from_json(json.loads((path / "scaler.json").read_text())),
            columns=columns, seq_len=cfg.seq_len, version=row.version, **_predictor_parts(extra))

    def load_champion(self) -> Predictor | None:
        row = self.store.champion()
        return self.load(row) if row else None

    def promote(self, version: str) -> ModelVersionRow:
        """Make a stored version the champion (manual promotion or rollback)."""
        row = next((v for v in self.store.model_versions() if v.version == version), None)
        if row is None:
            raise KeyError(version)
        self.load(row)  # refuse a version whose files are missing or unreadable
        self.store.set_champion(version)
        return row


def _predictor_json(p: Predictor) -> dict:
    """How to read the model's scores, and its companions, as plain numbers."""
    def plain(part):
        return part.__dict__ if part is not None else None

    return {"target": p.target.to_json(), "return_rmse": p.return_rmse, "calibration": plain(p.calibration),
            "edge_map": plain(p.edge_map), "edge_error": p.edge_error,
            "volatility": p.volatility.to_json() if p.volatility else None,
            "regime": p.regime.to_json() if p.regime else None}


def _calibration(saved: dict) -> PlattCalibration:
    """Versions saved before the covariance was kept read as certain."""
    covariance = saved.get("covariance") or ((0.0, 0.0), (0.0, 0.0))
    return PlattCalibration(float(saved["slope"]), float(saved["intercept"]),
                            tuple(tuple(float(v) for v in row) for row in covariance))


def _predictor_parts(saved: dict) -> dict:
    def part(key, build):
        return build(saved[key]) if saved.get(key) else None

    return {"target": Target.from_json(saved.get("target")), "return_rmse": saved.get("return_rmse"),
            "calibration": part("calibration", _calibration),
            "edge_map": part("edge_map", lambda d: EdgeMap(**d)),
            "edge_error": float(saved.get("edge_error") or 0.0),
            "volatility": part("volatility", VolatilityModel.from_json),
            "regime": part("regime", RegimeModel.from_json)}
