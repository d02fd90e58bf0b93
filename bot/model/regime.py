"""Market regime: a two-state hidden Markov model of per-bar log returns.

Each state draws returns from its own normal distribution; the state with
the larger spread is called turbulent, the other calm. The model is fitted
(EM, bot/model/hmm_em.py) on a retrain's history with a sticky prior on the
transitions: without it, EM on hourly returns explains fat tails with a
state that lasts two bars, which is not a regime anyone can trade.

Reading the regime at bar t must not look ahead, so EM's smoothed
posteriors (which use later bars) are never used. The probability of the
turbulent state is the forward filter run over the newest WINDOW returns,
starting from the chain's stationary distribution: a pure function of the
model and the recent closes, so a restarted run reads the same number as an
uninterrupted one, and the chain forgets its start long before the window
ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bot.model.hmm_em import TwoStateFit, fit_two_state

WINDOW = 168  # returns the filter reads
STICKINESS = 0.25  # prior self-transition pseudo-counts, as a share of the training returns
SCALE = 100.0  # returns in percent: EM is better conditioned there
MAX_ITERATIONS = 60


def _ordered_product(matrices: np.ndarray) -> np.ndarray:
    """M_n ... M_2 M_1 of (2, 2, batch, n) matrices, newest last along the
    last axis, reduced pairwise; each partial product rescaled to keep it
    in range. Elementwise arithmetic only: every row of the batch goes
    through the very same operations as it would alone, so batching
    changes no bit of a result. (numpy's stacked matmul over (batch, n, 2,
    2), used before, took 2.4-2.6 times as long for 100 symbols, and 0.8-0.85
    times as long for one.)"""
    while matrices.shape[3] > 1:
        head = None
        if matrices.shape[3] % 2:
            head, matrices = matrices[..., :1], matrices[..., 1:]
        paired = _later_times_earlier(matrices[..., 1::2], matrices[..., 0::2])
        if head is not None:
            paired[..., :1] = _later_times_earlier(paired[..., :1], head)
        matrices = paired
    return matrices[..., 0]


def _later_times_earlier(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """later @ earlier, (i, k) = later(i, 0) earlier(0, k) + later(i, 1)
    earlier(1, k), scaled so its four entries sum to 1."""
    product = later[:, 0, None] * earlier[None, 0] + later[:, 1, None] * earlier[None, 1]
    rows = product[:, 0] + product[:, 1]
    product /= rows[0] + rows[1]
    return product


@dataclass(frozen=True)
class RegimeModel:
    means: tuple[float, float]  # per state, of returns in percent; state 1 is turbulent
    stds: tuple[float, float]
    transition: tuple[tuple[float, float], tuple[float, float]]

    @property
    def lookback(self) -> int:
        """Closes a reading needs (fewer: the filter reads what there is)."""
        return WINDOW + 1

    @classmethod
    def fit(cls, closes: list[np.ndarray], seed: int) -> tuple[RegimeModel, dict] | None:
        del seed  # the fit starts from fixed values and draws nothing; kept so every companion fits alike
        series = [np.diff(np.log(c)) * SCALE for c in closes if len(c) > WINDOW]
        if not series or sum(map(len, series)) < 2 * WINDOW:
            return None
        returns = np.concatenate(series)
        sticky = STICKINESS * len(returns)
        # A fixed start instead of k-means: one quiet and one loud state
        # around the same mean, so the fit is deterministic and quick.
        variance = float(returns.var()) or 1.0
        start = TwoStateFit(
            start=np.array([0.5, 0.5]),
            transition=np.array([[0.99, 0.01], [0.01, 0.99]]),
            means=np.full(2, float(returns.mean())),
            variances=np.array([variance / 2, variance * 2]),
        )
        prior = np.array([[1 + sticky, 1.0], [1.0, 1 + sticky]])
        fitted = fit_two_state(series, start, prior, max_iterations=MAX_ITERATIONS, tol=1e-3)
        means, stds = fitted.means, np.sqrt(fitted.variances)
        order = np.argsort(stds)  # calm first
        transition = fitted.transition[np.ix_(order, order)]
        model = cls(
            (float(means[order[0]]), float(means[order[1]])),
            (float(stds[order[0]]), float(stds[order[1]])),
            ((float(transition[0, 0]), float(transition[0, 1])), (float(transition[1, 0]), float(transition[1, 1]))),
        )
        metrics = {
            "regime_calm_std": model.stds[0] / SCALE,
            "regime_turbulent_std": model.stds[1] / SCALE,
            "regime_calm_bars": model.expected_duration(0),
            "regime_turbulent_bars": model.expected_duration(1),
            "regime_turbulent_share": model.stationary()[1],
        }
        return model, metrics

    def expected_duration(self, state: int) -> float:
        """Mean stay in a state, in bars."""
        stay = self.transition[state][state]
        return 1.0 / (1.0 - stay) if stay < 1 else math.inf

    def stationary(self) -> tuple[float, float]:
        to_turbulent, to_calm = self.transition[0][1], self.transition[1][0]
        total = to_turbulent + to_calm
        if total == 0:
            return 0.5, 0.5
        return to_calm / total, to_turbulent / total

    def turbulent_probability(self, closes: np.ndarray) -> float | None:
        """P(turbulent at the newest close | the newest WINDOW returns)."""
        return self.turbulent_probabilities([closes])[0]

    def turbulent_probabilities(self, windows: list[np.ndarray]) -> list[float | None]:
        """`turbulent_probability` of each series of closes. Those of the
        full length are filtered together, a few numpy calls for all of
        them, which is what makes a step over many symbols cheap."""
        out: list[float | None] = [None] * len(windows)
        full = [i for i, w in enumerate(windows) if len(w) >= self.lookback]
        if full:
            closes = np.stack([windows[i][-self.lookback :] for i in full])
            for i, p in zip(full, self._filtered(closes).tolist(), strict=True):
                out[i] = p
        for i, w in enumerate(windows):
            if len(w) >= 2 and len(w) < self.lookback:  # a short history: alone, it has its own length
                out[i] = float(self._filtered(np.asarray(w)[None, :])[0])
        return out

    def _filtered(self, closes: np.ndarray) -> np.ndarray:
        """(batch, n) closes of the same length -> (batch,) P(turbulent)."""
        returns = np.diff(np.log(closes), axis=1) * SCALE
        # The forward filter is a product of 2x2 matrices, one per return:
        # transition then the likelihoods (alpha_t = D_t A^T alpha_{t-1}).
        # Each is scaled to sum 1 (a scale factor cancels in the end), and
        # the product is taken pairwise, a few numpy calls instead of a
        # Python loop over the window.
        (m0, m1), (s0, s1) = self.means, self.stds
        (p00, p01), (p10, p11) = self.transition
        calm = np.exp(-0.5 * ((returns - m0) / s0) ** 2) / s0  # (batch, n) likelihoods
        turbulent = np.exp(-0.5 * ((returns - m1) / s1) ** 2) / s1
        # (2, 2, batch, n); rows: to-state
        steps = np.stack([calm * p00, calm * p10, turbulent * p01, turbulent * p11]).reshape(2, 2, *returns.shape)
        total = (steps[0, 0] + steps[0, 1]) + (steps[1, 0] + steps[1, 1])
        reachable = np.all(total > 0, axis=1)  # a return beyond both states' reach: turbulent
        with np.errstate(divide="ignore", invalid="ignore"):
            (q00, q01), (q10, q11) = _ordered_product(steps / total)
            start_calm, start_turbulent = self.stationary()
            alpha_calm = q00 * start_calm + q01 * start_turbulent
            alpha_turbulent = q10 * start_calm + q11 * start_turbulent
            reading = alpha_turbulent / (alpha_calm + alpha_turbulent)
        return np.where(reachable, reading, 1.0)

    def to_json(self) -> dict:
        return {"means": list(self.means), "stds": list(self.stds), "transition": [list(r) for r in self.transition]}

    @classmethod
    def from_json(cls, data: dict) -> RegimeModel:
        means, stds = tuple(map(float, data["means"])), tuple(map(float, data["stds"]))
        rows = tuple(tuple(map(float, r)) for r in data["transition"])
        if (
            len(means) != 2
            or len(stds) != 2
            or min(stds) <= 0
            or len(rows) != 2
            or any(len(r) != 2 or min(r) < 0 or abs(sum(r) - 1) > 1e-6 for r in rows)
        ):
            raise ValueError("regime model file is not a two-state model")
        (p00, p01), (p10, p11) = rows  # two rows of two, checked above
        return cls(means, stds, ((p00, p01), (p10, p11)))
