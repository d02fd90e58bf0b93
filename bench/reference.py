"""A yardstick for the machine: a fixed workload that uses none of the
project's code, timed beside every figure in bench/results.json.

The hosts these benches run on differ (the same commit's figures moved by
70% between two sessions on different CPUs) and drift within the hour. A
figure alone cannot say whether the code or the machine moved; a figure
with the yardstick's time beside it can: when two results' yardsticks
differ by 1.7x, their figures are not comparable as they stand.

The workload is the kind of work a bar step does, in the same proportions
of interpreter, sqlite3 and numpy work, none of it ours: small float
arithmetic on deques, inserts through sqlite3 into a file in WAL mode, and
numpy on small arrays. Never change it: a changed yardstick measures
nothing against the old one. Give a new one a new key instead.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

ROUNDS = 7  # medians of this many; each round is about 0.15 s on a 2 GHz core, a third in each part


def _interpreter(steps: int = 20_000) -> float:
    window: deque[float] = deque(maxlen=48)
    level, total = 100.0, 0.0
    for i in range(steps):
        level *= 1.0 + math.sin(i) * 1e-3
        window.append(level)
        mean = sum(window) / len(window)
        total += math.log(level / mean)
    return total


def _sqlite(folder: Path, steps: int = 150, rows: int = 20) -> None:
    conn = sqlite3.connect(folder / "yardstick.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (k TEXT, ts INTEGER, a REAL, b REAL, PRIMARY KEY (k, ts))")
    for step in range(steps):
        conn.execute("BEGIN")
        values = [(f"s{r}", step, r * 0.5, step * 0.25) for r in range(rows)]
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", values)
        conn.execute("COMMIT")
    conn.close()


def _numpy(steps: int = 60) -> float:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 48, 11))
    total = 0.0
    for _ in range(steps):
        scaled = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)
        total += float(np.tanh(scaled).sum())
    return total


def one_round() -> float:
    """CPU milliseconds of one round of the workload."""
    with tempfile.TemporaryDirectory() as name:
        start = time.process_time()
        _interpreter()
        _sqlite(Path(name))
        _numpy()
        return (time.process_time() - start) * 1000


def yardstick_ms(rounds: int = ROUNDS) -> float:
    """The median CPU milliseconds of a round, now, on this machine."""
    return round(statistics.median(one_round() for _ in range(rounds)), 1)
