"""Synthetic markets whose best possible prediction is known.

Hidden two-state drift: a Markov chain s_t stays in its state with
probability `stay`, and each bar's log return is +drift (state 1) or
-drift (state 0) plus normal noise of `sigma`. Nobody sees the state; the
best anyone can do with the past is the forward filter with the true
parameters, P(s_t = 1 | returns up to t), and from it the probability of
the label. That gives the Bayes-optimal accuracy a learnt model can at
most reach.

A random walk is the same with drift 0: nothing to learn.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr

HOUR = 3_600_000
START_MS = 1_640_995_200_000  # 2022-01-01T00:00Z
SUBSTEPS = 6  # price path points per bar, for highs and lows


@dataclass(frozen=True)
class HiddenDrift:
    drift: float  # per bar, in log return
    sigma: float  # per bar
    stay: float  # P(the state is kept from one bar to the next)


@dataclass(frozen=True)
class Market:
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    state: np.ndarray  # the hidden truth

    def write_csv(self, path: Path) -> Path:
        rows = ["timestamp,open,high,low,close,volume"]
        rows += [f"{t},{o!r},{h!r},{l!r},{c!r},{v!r}" for t, o, h, l, c, v in
                 zip(self.ts.tolist(), self.open.tolist(), self.high.tolist(), self.low.tolist(),
                     self.close.tolist(), self.volume.tolist())]
        with gzip.open(path, "wt") as f:
            f.write("\n".join(rows) + "\n")
        return path


def simulate(params: HiddenDrift, n: int, seed: int, start_price: float = 20_000.0) -> Market:
    rng = np.random.default_rng(seed)
    flips = rng.random(n) > params.stay
    state = np.empty(n, dtype=np.int8)
    state[0] = rng.integers(0, 2)
    for i in range(1, n):
        state[i] = state[i - 1] ^ flips[i]
    mean = np.where(state == 1, params.drift, -params.drift)
    # Each bar's return is the sum of SUBSTEPS small steps, so the bar has a
    # path (high, low) consistent with its close-to-close return.
    steps = rng.normal(0.0, params.sigma / np.sqrt(SUBSTEPS), (n, SUBSTEPS)) + (mean / SUBSTEPS)[:, None]
    path = np.log(start_price) + np.cumsum(steps.ravel()).reshape(n, SUBSTEPS)
    close_log = path[:, -1]
    open_log = np.concatenate([[np.log(start_price)], close_log[:-1]])
    high = np.exp(np.maximum(path.max(axis=1), open_log))
    low = np.exp(np.minimum(path.min(axis=1), open_log))
    volume = rng.lognormal(3.0, 0.4, n)
    return Market(START_MS + np.arange(n, dtype=np.int64) * HOUR, np.exp(open_log), high, low,
                  np.exp(close_log), volume, state)


def filtered_up_state(params: HiddenDrift, close: np.ndarray) -> np.ndarray:
    """P(s_t = 1 | log returns up to bar t), the forward filter with the
    true parameters; 0.5 at the first bar."""
    returns = np.diff(np.log(close))
    like_up = np.exp(-0.5 * ((returns - params.drift) / params.sigma) ** 2)
    like_down = np.exp(-0.5 * ((returns + params.drift) / params.sigma) ** 2)
    out = np.empty(len(close))
    p = out[0] = 0.5
    q = params.stay
    for i, (a, b) in enumerate(zip(like_up, like_down), start=1):
        prior = p * q + (1 - p) * (1 - q)
        p = prior * a / (prior * a + (1 - prior) * b)
        out[i] = p
    return out


def bayes_prob_up(params: HiddenDrift, pi: np.ndarray, horizon: int) -> np.ndarray:
    """P(the log return over the next `horizon` bars is positive), given
    P(s_t = 1) = pi: over the number k of the next bars spent in the up
    state, the sum is normal with mean (2k - h) drift and variance h sigma^2."""
    q = params.stay
    # dist[s][k]: P(k up-bars among the next h | s_t = s), by dynamic programming.
    dist = {}
    for start in (0, 1):
        probs = np.zeros((2, horizon + 1))  # [state of the latest bar, ups so far]
        probs[start, 0] = 1.0
        for _ in range(horizon):
            stay_mass = probs * q
            move_mass = probs * (1 - q)
            nxt = np.zeros_like(probs)
            nxt[0] += stay_mass[0] + move_mass[1]  # next bar down
            up = stay_mass[1] + move_mass[0]  # next bar up: one more up-bar
            nxt[1, 1:] += up[:-1]
            probs = nxt
        dist[start] = probs.sum(axis=0)
    k = np.arange(horizon + 1)
    positive = ndtr((2 * k - horizon) * params.drift / (params.sigma * np.sqrt(horizon)))
    given_up, given_down = float(dist[1] @ positive), float(dist[0] @ positive)
    return pi * given_up + (1 - pi) * given_down
