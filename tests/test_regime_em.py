"""The regime model's own EM (bot/model/hmm_em.py) fits what hmmlearn's
GaussianHMM fits from the same start with the same priors: it replaced
GaussianHMM only so that a retrain does not import scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import fresh_python_prints

from bot.model.hmm_em import TwoStateFit, fit_two_state


def _regime_returns(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    state, out = 0, np.empty(n)
    for t in range(n):
        if rng.random() < 0.01:
            state = 1 - state
        out[t] = rng.normal(0.02 * (1 - state), 0.5 if state == 0 else 1.6)
    return out


def _start(returns: np.ndarray) -> TwoStateFit:
    variance = float(returns.var())
    return TwoStateFit(np.array([0.5, 0.5]), np.array([[0.99, 0.01], [0.01, 0.99]]),
                       np.full(2, float(returns.mean())), np.array([variance / 2, variance * 2]))


@pytest.mark.parametrize("seed,lengths,sticky,iterations", [
    (1, [3000], 0.25, 60), (2, [1500, 900], 0.25, 60), (3, [4000], 0.0, 60), (4, [2000], 0.25, 3),
    (5, [700, 2], 0.1, 60),
])
def test_same_fit_as_hmmlearns_gaussian_hmm(seed: int, lengths: list[int], sticky: float, iterations: int) -> None:
    from hmmlearn.hmm import GaussianHMM

    series = [_regime_returns(seed * 10 + i, n) for i, n in enumerate(lengths)]
    returns = np.concatenate(series)
    start = _start(returns)
    pseudo = sticky * len(returns)
    prior = np.array([[1 + pseudo, 1.0], [1.0, 1 + pseudo]])
    ours = fit_two_state(series, start, prior, max_iterations=iterations, tol=1e-3)

    hmm = GaussianHMM(n_components=2, covariance_type="diag", n_iter=iterations, tol=1e-3, transmat_prior=prior,
                      init_params="", params="stmc")
    hmm.startprob_, hmm.transmat_ = start.start.copy(), start.transition.copy()
    hmm.means_, hmm.covars_ = start.means[:, None].copy(), start.variances[:, None].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmm.fit(returns[:, None], lengths=lengths)

    assert ours.iterations == hmm.monitor_.iter
    np.testing.assert_allclose(ours.transition, hmm.transmat_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.means, hmm.means_.ravel(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.variances, hmm.covars_.ravel(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.start, hmm.startprob_, rtol=1e-9, atol=1e-12)
    assert ours.log_likelihood == pytest.approx(hmm.monitor_.history[-1], rel=1e-9)
    assert not np.allclose(ours.variances, start.variances), "EM never moved"


def test_a_retrain_imports_neither_scikit_learn_nor_scipy() -> None:
    """What the EM and the other hand-made fits are for: the regime, the
    volatility forecast, the calibration and the edge's rank IC of a
    retrain run in a fresh interpreter without loading scikit-learn or
    scipy (90 MB and seconds of CPU)."""
    code = (
        "import sys, numpy as np\n"
        "from bot.model.regime import RegimeModel\n"
        "from bot.model.calibration import fit_calibration\n"
        "from bot.app.retrain import _edge_quality\n"
        "rng = np.random.default_rng(0)\n"
        "closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))\n"
        "assert RegimeModel.fit([closes], seed=0) is not None\n"
        "p = rng.uniform(0.3, 0.7, 800); y = (rng.random(800) < p).astype(float)\n"
        "fit_calibration(p, y, 'auto', 48)\n"
        "_edge_quality(rng.normal(size=500), rng.normal(size=500))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))\n"
    )
    assert fresh_python_prints(code) == "[]"
