"""Market regime: a two-state hidden Markov model of per-bar log returns.

Each state draws returns from its own normal distribution; the state with
the larger spread is called turbulent, the other calm. The model is fitted
(EM, bot/model/hmm_em.py) on a retrain's history with a sticky prior on the
transitions: without it, EM on hourly returns explains fat tails with a
state that lasts two bars, which is not a regime anyone can trade.

Reading the regime at bar t must not look ahead, so EM's smoothed
posteriors (which use later bars) are never used. The probability of the
turbulent state is the forward filter run over the newest WINDOW returns,
starting from the chain's stationary distribution (bot/model/regime_filter.py):
a pure function of the model, the recent closes and the newest bar's
position, so a restarted run reads the same number as an uninterrupted one,
and the chain forgets its start long before the window ends.
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
