"""EM for a two-state hidden Markov model with one normal distribution of
returns per state: the same algorithm and priors as hmmlearn's GaussianHMM
(diagonal covariance, log-space forward-backward, a Dirichlet prior on the
transitions, its default inverse-gamma floor on the variances), driven from
here over hmmlearn's compiled forward-backward.

Why not GaussianHMM itself: importing hmmlearn.hmm imports scikit-learn and
scipy, 90 MB and 2 s of CPU in every process that retrains, and a retrain
needs nothing else from them. tests/test_regime_em.py holds the fit equal
to GaussianHMM's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COVARS_PRIOR = 1e-2  # GaussianHMM's default variance floor (pseudo sum of squares, weight 1)
LOG_2PI = float(np.log(2 * np.pi))


@dataclass
class TwoStateFit:
    start: np.ndarray  # (2,)
    transition: np.ndarray  # (2, 2), rows: from-state
    means: np.ndarray  # (2,)
    variances: np.ndarray  # (2,)
    iterations: int = 0
    log_likelihood: float = float("nan")


def _log_density(x: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """(n,) returns -> (n, 2) log N(x; mean_k, variance_k)."""
    variances = np.maximum(variances, np.finfo(float).tiny)
    return -0.5 * (LOG_2PI + np.log(variances) + (x[:, None] - means) ** 2 / variances)


def _posteriors(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    log_gamma = forward + backward
    log_gamma -= np.logaddexp(log_gamma[:, :1], log_gamma[:, 1:])
    with np.errstate(under="ignore"):
        return np.exp(log_gamma)


def fit_two_state(
    series: list[np.ndarray], fit: TwoStateFit, transition_prior: np.ndarray, *, max_iterations: int, tol: float
) -> TwoStateFit:
    """EM from `fit`'s starting values over independent `series` of
    returns; stops when the log likelihood gains less than `tol`."""
    # The compiled forward-backward only (no scikit-learn behind it), on
    # first use: a replay without a model never fits a regime.
    from hmmlearn import _hmmc

    start, transition = fit.start.copy(), fit.transition.copy()
    means, variances = fit.means.copy(), fit.variances.copy()
    previous, iteration = None, 0
    log_likelihood = float("nan")
    while iteration < max_iterations:
        iteration += 1
        start_sum, trans_sum = np.zeros(2), np.zeros((2, 2))
        post, obs, obs2 = np.zeros(2), np.zeros(2), np.zeros(2)
        log_likelihood = 0.0
        for x in series:
            log_frame = _log_density(x, means, variances)
            log_prob, forward = _hmmc.forward_log(start, transition, log_frame)
            backward = _hmmc.backward_log(start, transition, log_frame)
            gamma = _posteriors(forward, backward)
            start_sum += gamma[0]
            if len(x) > 1:
                with np.errstate(under="ignore"):
                    trans_sum += np.exp(_hmmc.compute_log_xi_sum(forward, transition, backward, log_frame))
            post += gamma.sum(axis=0)
            obs += gamma.T @ x
            obs2 += gamma.T @ x**2
            log_likelihood += log_prob
        start = _normalized(np.where(start == 0, 0, np.maximum(start_sum, 0)))
        transition = _normalized(np.where(transition == 0, 0, np.maximum(transition_prior - 1 + trans_sum, 0)))
        means = obs / post
        spread = obs2 - 2 * means * obs + means**2 * post
        variances = (COVARS_PRIOR + spread) / np.maximum(post, 1e-5)
        if previous is not None and log_likelihood - previous < tol:
            break
        previous = log_likelihood
    return TwoStateFit(start, transition, means, variances, iteration, log_likelihood)


def _normalized(a: np.ndarray) -> np.ndarray:
    total = a.sum(axis=-1, keepdims=True)
    return a / np.where(total == 0, 1, total)
