"""Out-of-sample prediction quality: classification of the next close's
direction from `prob_up`, and regression of the next return where the model
predicts one.

The metrics themselves are scikit-learn's; this module only decides which
rows count and what an undefined metric reports (None, never NaN), so the
result can go straight into a JSON report.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn import metrics as skm

CLASSIFICATION_KEYS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "brier", "log_loss")
REGRESSION_KEYS = ("mse", "rmse", "r2")

_PROB_EPS = 1e-7  # log loss clips probabilities to [eps, 1 - eps]


def _finite(value: float | None) -> float | None:
    """A plain float, or None where the value is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two arrays as flat floats with every row where either is NaN dropped."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"length mismatch: {a.shape[0]} vs {b.shape[0]}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def classification_report(prob: np.ndarray, outcome: np.ndarray) -> dict:
    """Direction metrics of `prob` (the predicted probability that the next
    close is up) against `outcome` (1 = it was up, 0 = it was not).

    Rows whose outcome (or probability) is NaN are dropped first: the last
    bars' outcomes are not known yet. The predicted class is `prob > 0.5`;
    the positive class is 1.

    - accuracy, balanced_accuracy: sklearn; balanced accuracy averages the
      recall of the classes present in the outcomes
    - precision, recall, f1: of class 1, 0 where undefined (zero_division=0)
    - roc_auc: None when the outcomes hold only one class
    - brier: mean squared error of the probability against the outcome
    - log_loss: probabilities clipped to [1e-7, 1 - 1e-7], labels [0, 1]
      (so it is defined even when only one class occurred)
    - n: the number of rows scored; with none, every metric is None
    """
    p, y = _paired(prob, outcome)
    report: dict = dict.fromkeys(CLASSIFICATION_KEYS)
    report["n"] = int(len(y))
    if len(y) == 0:
        return report
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcome must be 0, 1 or NaN")
    y = y.astype(int)
    predicted = (p > 0.5).astype(int)
    with warnings.catch_warnings():
        # One-class outcomes: sklearn warns that the prediction holds a class
        # the outcomes lack, then averages over the classes present.
        warnings.simplefilter("ignore", UserWarning)
        balanced = skm.balanced_accuracy_score(y, predicted)
    report.update(
        accuracy=skm.accuracy_score(y, predicted),
        balanced_accuracy=balanced,
        precision=skm.precision_score(y, predicted, pos_label=1, zero_division=0),
        recall=skm.recall_score(y, predicted, pos_label=1, zero_division=0),
        f1=skm.f1_score(y, predicted, pos_label=1, zero_division=0),
        roc_auc=skm.roc_auc_score(y, p) if len(np.unique(y)) == 2 else None,
        brier=skm.brier_score_loss(y, p, pos_label=1),
        log_loss=skm.log_loss(y, np.clip(p, _PROB_EPS, 1 - _PROB_EPS), labels=[0, 1]),
    )
    return {key: value if key == "n" else _finite(value) for key, value in report.items()}


def regression_report(predicted: np.ndarray, actual: np.ndarray) -> dict:
    """Error of predicted next-bar returns against the realised ones.

    Rows where either side is NaN are dropped. mse and rmse are sklearn's
    mean squared error and its root (None without rows); r2 is sklearn's
    coefficient of determination, None with fewer than 2 rows or when the
    actual values do not vary (sklearn would then report a conventional
    1.0 or 0.0 that says nothing about the model).
    """
    pred, act = _paired(predicted, actual)
    report: dict = dict.fromkeys(REGRESSION_KEYS)
    report["n"] = int(len(act))
    if len(act) == 0:
        return report
    report["mse"] = _finite(skm.mean_squared_error(act, pred))
    report["rmse"] = _finite(skm.root_mean_squared_error(act, pred))
    if len(act) >= 2 and np.ptp(act) > 0:
        report["r2"] = _finite(skm.r2_score(act, pred))
    return report
