"""Validation metrics of a direction classifier."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def log_loss(prob: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(prob, 1e-7, 1 - 1e-7)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


def classification_metrics(prob: np.ndarray, label: np.ndarray) -> dict[str, float | None]:
    both_classes = 0 < label.sum() < len(label)
    return {
        "val_loss": log_loss(prob, label),
        "val_accuracy": float(np.mean((prob > 0.5) == (label > 0.5))),
        "val_auc": float(roc_auc_score(label, prob)) if both_classes else None,
        "val_brier": float(np.mean((prob - label) ** 2)),
        "val_base_rate": float(label.mean()),
        "val_prob_mean": float(prob.mean()),
        "val_prob_max": float(prob.max()),
    }
