"""Validation metrics of a model: classification metrics for direction
(and for the sign of a predicted return), regression metrics for returns."""

from __future__ import annotations

import numpy as np


def log_loss(prob: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(prob, 1e-7, 1 - 1e-7)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties at their average rank: scipy's rankdata for a
    1-d array, without its generality, which costs more than the ranking
    itself at the sizes scored every bar and in the gate's bootstrap."""
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts) - 1  # 0-based index of each value's tie group
    bounds = np.concatenate([np.flatnonzero(starts), [len(x)]])  # first position of each group, then the end
    ranks = np.empty(len(x))
    ranks[order] = 0.5 * (bounds[group] + bounds[group + 1] + 1)
    return ranks


def auc_or_none(score: np.ndarray, label: np.ndarray) -> float | None:
    """ROC AUC, or None when only one class occurs. Computed from ranks (the
    Mann-Whitney U statistic, ties at their average rank): the same number
    as scikit-learn's, at a twentieth of the cost, which matters because
    live scoring runs it inside the bar step."""
    positive = np.asarray(label) > 0.5
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(np.asarray(score, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def resampled_aucs(score: np.ndarray, label: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    """`auc_or_none(score[i], label[i])` for each row i of `indexes`, NaN
    where a resample holds one class only; the same numbers, bit for bit,
    at a fraction of the cost of resorting every resample.

    A resample is the original windows each drawn some number of times, so
    its ranks follow from one sort of the originals: a tie group's members
    all take the group's average rank, the count drawn before it plus half
    its own count plus a half. The sum of the positives' ranks and the
    class counts are whole or half numbers, exact in a float, so the final
    division is the same correctly rounded quotient auc_or_none computes."""
    score, positive = np.asarray(score, dtype=float), np.asarray(label) > 0.5
    draws, n = len(indexes), len(score)
    counts = np.bincount((indexes + n * np.arange(draws)[:, None]).ravel(), minlength=draws * n)
    counts = counts.reshape(draws, n).astype(float)  # how often each original window was drawn
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    group_starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    in_group = np.add.reduceat(counts[:, order], group_starts, axis=1)  # (draws, groups)
    positives_in_group = np.add.reduceat(counts[:, order] * positive[order], group_starts, axis=1)
    before_group = np.cumsum(in_group, axis=1) - in_group
    rank_sum = np.sum(positives_in_group * (before_group + 0.5 * (in_group + 1)), axis=1)
    n_pos = positives_in_group.sum(axis=1)
    n_neg = indexes.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def classification_metrics(prob: np.ndarray, label: np.ndarray) -> dict[str, float | None]:
    return {
        "val_loss": log_loss(prob, label),
        "val_accuracy": float(np.mean((prob > 0.5) == (label > 0.5))),
        "val_auc": auc_or_none(prob, label),
        "val_brier": float(np.mean((prob - label) ** 2)),
        "val_base_rate": float(label.mean()),
        "val_prob_mean": float(prob.mean()),
        "val_prob_max": float(prob.max()),
    }


def regression_metrics(predicted: np.ndarray, actual: np.ndarray, rising: np.ndarray) -> dict[str, float | None]:
    error = predicted - actual
    mse = float(np.mean(error**2))
    variance = float(np.var(actual))
    return {
        "val_mse": mse,
        "val_rmse": mse**0.5,
        "val_r2": 1 - mse / variance if variance > 0 else None,
        # How often the sign was right, and how well the value ranks ups.
        "val_accuracy": float(np.mean((predicted > 0) == (rising > 0.5))),
        "val_auc": auc_or_none(predicted, rising),
    }
