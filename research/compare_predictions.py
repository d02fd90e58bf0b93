"""Compare two runs' scored predictions of the same symbol, paired by bar.

    python research/compare_predictions.py A.sqlite B.sqlite SYMBOL

Prints each run's AUC, accuracy and Brier score on the bars both runs
scored and settled, and AUC(A) - AUC(B) with a 90% interval from a paired
moving-block bootstrap (48-bar blocks, 300 draws, seed 0). This is how
docs/research-log.md compares pooled, per-symbol-scaled and single-symbol
models; the daemon's own promotion gate uses the same resampler.
"""

from __future__ import annotations

import sqlite3
import sys

import numpy as np

from bot.model.metrics import auc_or_none
from bot.model.promotion import bootstrap_improvements

QUERY = "SELECT ts, prob_up, outcome FROM predictions WHERE symbol = ? AND outcome IS NOT NULL"


def settled(path: str, symbol: str) -> dict[int, tuple[float, int]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {ts: (prob, outcome) for ts, prob, outcome in db.execute(QUERY, (symbol,))}


def summary(prob: np.ndarray, label: np.ndarray) -> str:
    accuracy = float(np.mean((prob > 0.5) == (label > 0.5)))
    brier = float(np.mean((prob - label) ** 2))
    return f"AUC {auc_or_none(prob, label):.3f}  accuracy {accuracy:.3f}  Brier {brier:.4f}"


def main(a_path: str, b_path: str, symbol: str) -> None:
    a, b = settled(a_path, symbol), settled(b_path, symbol)
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit(f"no settled prediction of {symbol} in both runs")
    label = np.array([a[ts][1] for ts in common], dtype=float)
    if any(b[ts][1] != a[ts][1] for ts in common):
        raise SystemExit("the runs settled the same bar differently: not the same target")
    pa = np.array([a[ts][0] for ts in common])
    pb = np.array([b[ts][0] for ts in common])
    diffs = bootstrap_improvements("auc", pa, pb, label, block=48, samples=300, seed=0)
    low, high = np.quantile(diffs, [0.05, 0.95])
    print(f"{symbol}: {len(common)} predictions in both runs")
    print(f"  A {summary(pa, label)}")
    print(f"  B {summary(pb, label)}")
    print(f"  AUC A - B {auc_or_none(pa, label) - auc_or_none(pb, label):+.3f} (90% CI {low:+.3f}, {high:+.3f})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
