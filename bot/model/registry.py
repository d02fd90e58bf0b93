"""Model versions: files under <models_dir>/<version>/ plus a database row.

A version directory holds the model's own files (weights.pt and net.onnx,
linear.json or forest.skops), scaler.json, predictor.json (return spread,
calibration), config.json and metrics.json. Nothing in it is unpickled:
weights load with weights_only=True, the rest is JSON, ONNX or checked
skops, plus checksums.json, the SHA-256 of each (bot/model/file_digests.py).
Files are written to a temporary directory and renamed into place, so a
crash never leaves half a model behind; a file changed after that is found
by its digest before anything is loaded.

Statuses: champion (the one trading; at most one), candidate (trained, not
yet judged), rejected (lost to the champion), retired (a former champion).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot import json_values
from bot.config import ModelConfig
from bot.domain import Event
from bot.features import FEATURE_NAMES
from bot.features.spec import feature_columns
from bot.model.calibration import PlattCalibration
from bot.model.factory import load_model
from bot.model.file_digests import DIGESTS, changed_file, write_digests
from bot.model.predictor import EdgeMap, Predictor
from bot.model.regime import RegimeModel
from bot.model.scaler import Scaler
from bot.model.targets import Target
from bot.model.version import ModelVersion
from bot.model.volatility import VolatilityModel
from bot.store import Store


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
        n = self.store.model_version_count() + 1
        stamp = datetime.fromtimestamp(created_ts / 1000, tz=UTC).strftime("%Y%m%dT%H%M")
        return f"v{n:04d}-{stamp}"

    def register(self, candidate: Candidate, *, created_ts: int, config_hash: str, champion: bool) -> ModelVersion:
        p = candidate.predictor
        path = self._write_files(candidate)
        row = ModelVersion(
            version=p.version,
            created_ts=created_ts,
            train_from_ts=candidate.from_ts,
            train_to_ts=candidate.to_ts,
            n_train=candidate.metrics["n_train"],
            n_val=candidate.metrics["n_val"],
            kind=candidate.cfg.kind,
            metrics_json=json_values.dumps(
                candidate.metrics, sort_keys=True
            ),  # valid JSON: a non-finite figure as null
            status="champion" if champion else "rejected",
            path=path.name,
            config_hash=config_hash,
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
        (tmp / "scaler.json").write_text(json.dumps(_scalers_json(p)))
        (tmp / "predictor.json").write_text(json.dumps(_predictor_json(p), indent=2))
        (tmp / "config.json").write_text(
            json.dumps(
                {
                    "model": candidate.cfg.model_dump(),
                    "features": list(FEATURE_NAMES),
                    "columns": p.columns,
                    "checksums": DIGESTS,  # written last: a version without them was saved before them
                },
                indent=2,
            )
        )
        (tmp / "metrics.json").write_text(json_values.dumps(candidate.metrics, indent=2, sort_keys=True))
        write_digests(tmp)
        shutil.rmtree(final, ignore_errors=True)  # a retrain interrupted before its DB row
        tmp.rename(final)
        return final

    def path_of(self, version: str) -> Path:
        """A version's files: always under this run's models directory, so a
        moved or restored state directory loads its own models and a copy
        never loads another run's (whatever path an older row stored)."""
        return self.models_dir / version

    def load(self, row: ModelVersion) -> Predictor:
        """The version's predictor; ModelFileError naming the version and the
        file when one is missing, unreadable or inconsistent."""
        path = self.path_of(row.version)
        saved = _read_json(row.version, path / "config.json")
        changed = changed_file(path, expected="checksums" in saved)
        if changed:
            raise ModelFileError(f"model {row.version}: {changed}")
        columns = _columns_today(row.version, path / "config.json", saved)
        extra = _read_json(row.version, path / "predictor.json")
        scaler_json = _read_json(row.version, path / "scaler.json")
        try:
            cfg = ModelConfig(**saved["model"])
            parts = _predictor_parts(extra)
            scaler = Scaler.from_json(scaler_json, len(columns))
            by_symbol = scaler_json.get("by_symbol", {}).items()
            symbol_scalers = {str(name): Scaler.from_json(d, len(columns)) for name, d in by_symbol}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(
                f"model {row.version}: {path} holds unusable settings ({type(exc).__name__})"
            ) from None
        try:
            model = load_model(path, cfg, len(columns))
        except Exception as exc:  # torch, onnx, skops, lightgbm: each fails its own way
            raise ModelFileError(
                f"model {row.version}: its weights in {path} cannot be read ({type(exc).__name__}: {str(exc)[:160]})"
            ) from None
        predictor = Predictor(
            model=model,
            scaler=scaler,
            columns=columns,
            seq_len=cfg.seq_len,
            version=row.version,
            symbol_scalers=symbol_scalers,
            **parts,
        )
        _check_it_scores(row.version, path, predictor)
        return predictor

    def load_champion(self, now_ms: int = 0) -> Predictor | None:
        """The champion; if its files cannot be read, the newest earlier
        version that can becomes the champion instead, with an event (no
        model at all when none can: the bot then abstains)."""
        row = self.store.champion()
        if row is None:
            return None
        try:
            return self.load(row)
        except ModelFileError as exc:
            problem = str(exc)
        earlier = [v for v in self.store.model_versions() if v.created_ts < row.created_ts and v.status != "rejected"]
        for candidate in reversed(earlier):
            try:
                predictor = self.load(candidate)
            except ModelFileError:
                continue
            self.store.set_champion(candidate.version)
            self.store.add_event(
                Event(now_ms, "champion_unreadable", f"{problem}; {candidate.version} is the champion again", "error")
            )
            return predictor
        self.store.add_event(
            Event(
                now_ms,
                "champion_unreadable",
                f"{problem}; no earlier version loads either, so nothing is scored until the next retrain",
                "error",
            )
        )
        return None

    def promote(self, version: str) -> ModelVersion:
        """Make a stored version the champion (manual promotion or rollback)."""
        row = self.store.model_version(version)
        if row is None:
            raise KeyError(version)
        self.load(row)  # refuse a version whose files are missing or unreadable
        self.store.set_champion(version)
        return row


def _check_it_scores(version: str, path: Path, predictor: Predictor) -> None:
    """ModelFileError unless the loaded model scores a window: one number
    per window, finite. Weights of the wrong shape or not numbers (a hand-
    edited linear.json) loaded, were promoted, and then stopped the daemon
    at every bar: a matmul error, or a NULL probability the store refused."""
    window = np.zeros((1, predictor.seq_len, len(FEATURE_NAMES)))
    try:
        scored = predictor.score(window)
        values = [scored.prob, scored.edge, scored.edge_error]
        usable = all(v.shape == (1,) and np.isfinite(v).all() for v in values)
        figures = f"probability {scored.prob.tolist()}, edge {scored.edge.tolist()}"
        problem = "" if usable else f"it scores {figures}, not one finite figure each"
    except Exception as exc:  # numpy, onnx, sklearn, lightgbm: each fails its own way
        problem = f"it cannot score ({type(exc).__name__}: {str(exc)[:160]})"
    if problem:
        raise ModelFileError(f"model {version}: its weights in {path} load, but {problem}")


class ModelFileError(Exception):
    """A model version's files are missing or unreadable; the message names
    the version and the file."""


def _columns_today(version: str, path: Path, saved: dict) -> list[int]:
    """The model's input columns as positions in today's FEATURE_NAMES. A
    model names its inputs, so one saved before a feature was added (or the
    list reordered) still reads the same features in the same order."""
    try:
        names = [saved["features"][c] for c in saved["columns"]]
    except (KeyError, TypeError, IndexError):
        raise ModelFileError(f"model {version}: {path} does not say which features it reads") from None
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ModelFileError(
            f"model {version}: {path} reads feature {unknown[0]!r}, which this version does not compute"
        )
    return feature_columns(names)


def _read_json(version: str, path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"model {version}: {path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"model {version}: {path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"model {version}: {path} is not a JSON object")
    return data


def _scalers_json(p: Predictor) -> dict:
    """The pooled scaler, and each symbol's under `by_symbol` when the
    model has them (a pooled model's file is as it always was)."""
    saved = p.scaler.to_json()
    if p.symbol_scalers:
        saved["by_symbol"] = {name: s.to_json() for name, s in sorted(p.symbol_scalers.items())}
    return saved


def _predictor_json(p: Predictor) -> dict:
    """How to read the model's scores, and its companions, as plain numbers."""

    def plain(part):
        return part.__dict__ if part is not None else None

    return {
        "target": p.target.to_json(),
        "return_rmse": p.return_rmse,
        "calibration": plain(p.calibration),
        "call_calibration": plain(p.call_calibration),
        "edge_map": plain(p.edge_map),
        "edge_error": p.edge_error,
        "volatility": p.volatility.to_json() if p.volatility else None,
        "regime": p.regime.to_json() if p.regime else None,
    }


def _calibration(saved: dict) -> PlattCalibration:
    """Versions saved before the covariance was kept read as certain."""
    covariance = saved.get("covariance") or ((0.0, 0.0), (0.0, 0.0))
    rows = [[float(v) for v in row] for row in covariance]
    if len(rows) != 2 or any(len(row) != 2 for row in rows):
        # Refused at load (ModelFileError), not at the first bar it scores.
        raise ValueError("the calibration's covariance is not 2 x 2")
    (ss, si), (is_, ii) = rows
    return PlattCalibration(float(saved["slope"]), float(saved["intercept"]), ((ss, si), (is_, ii)))


def _predictor_parts(saved: dict) -> dict:
    def part(key, build):
        return build(saved[key]) if saved.get(key) else None

    return {
        "target": Target.from_json(saved.get("target")),
        "return_rmse": saved.get("return_rmse"),
        "calibration": part("calibration", _calibration),
        "call_calibration": part("call_calibration", _calibration),
        "edge_map": part("edge_map", lambda d: EdgeMap(**d)),
        "edge_error": float(saved.get("edge_error") or 0.0),
        "volatility": part("volatility", VolatilityModel.from_json),
        "regime": part("regime", RegimeModel.from_json),
    }
