"""The promotion gate: a challenger replaces the champion only when it is
better, by a margin, on the same newest validation windows.

Fairness matters here. The champion was trained on older data, part of
which may lie inside the challenger's validation slice; scoring it there
would flatter it. So both are scored on the validation windows whose label
the champion never saw (label bar after the champion's training data), as
long as there are `min_windows` of them; otherwise on the whole slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.config import PromotionConfig
from bot.model.dataset import TrainingSet
from bot.model.metrics import auc_or_none, log_loss
from bot.model.predictor import Predictor


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str
    metric: str | None = None
    challenger: float | None = None
    champion: float | None = None
    windows: int = 0

    def as_dict(self) -> dict:
        return {"gate_" + k: v for k, v in self.__dict__.items()}


def _metric(name: str, prob: np.ndarray, label: np.ndarray) -> float | None:
    return auc_or_none(prob, label) if name == "auc" else log_loss(prob, label)


def judge(challenger: Predictor, champion: Predictor | None, champion_trained_to: int | None,
          data: TrainingSet, cfg: PromotionConfig) -> Verdict:
    if champion is None:
        return Verdict(True, "first model")
    if champion.seq_len != challenger.seq_len:
        return Verdict(True, "champion not comparable (other window length)")
    unseen = data.val_label_ts > (champion_trained_to if champion_trained_to is not None else -1)
    chosen = unseen if unseen.sum() >= cfg.min_windows else np.ones_like(unseen)
    windows, label = data.x_val_raw[chosen], data.y_val[chosen]
    name = cfg.metric
    ours, theirs = (_metric(name, p.predict(windows), label) for p in (challenger, champion))
    if ours is None or theirs is None:  # one class only: AUC undefined
        name = "log_loss"
        ours, theirs = (_metric(name, p.predict(windows), label) for p in (challenger, champion))
    better = ours >= theirs + cfg.margin if name == "auc" else ours <= theirs - cfg.margin
    where = "unseen" if chosen is unseen else "validation"
    reason = (f"{name} {ours:.4f} vs champion {theirs:.4f} on {int(chosen.sum())} {where} windows"
              f" (margin {cfg.margin})")
    return Verdict(better, reason, name, ours, theirs, int(chosen.sum()))
