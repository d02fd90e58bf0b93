"""Platt scaling: a logistic fit of the outcome on the logit of the model's
probability, on the validation slice. It keeps the ranking (AUC), or, for
a model whose ranking the slice does not bear out, gives every window the
same probability (a slope of 0, never below), and fixes the levels, so
thresholds such as 0.6 mean what they say.

Three forms (`model.calibration`):
- temperature: the slope only, p' = sigmoid(a logit p). It corrects an
  over- or under-confident model and never moves its 50% line, so the calls
  and the base rate stay the training year's.
- platt: slope and intercept. The intercept moves the probabilities to the
  newest windows' base rate.
- auto: let the data say whether its recent base rate carries
  over. Both forms are fitted on the older half of the validation slice and
  scored (log loss) on the newer half, an embargo of h windows between them;
  the winner is refitted on the whole slice. In a market whose up- and
  down-spells last months, the intercept earns its place; where spells are
  short against the slice, the older half's base rate says nothing about the
  newer half's and the slope alone is kept. (A slice holds only about n / h
  independent labels, 36 at a fifth of a year and h = 48, so this is a
  coarse test, and it is the only honest way to make the choice.)

Every fit also reports how uncertain its parameters are (a posterior
covariance), so that a strategy can ask whether an edge survives the doubt
about the calibration itself: on noise it does not.

A model trained with its market's mirror image (`model.mirror`) learnt no
drift, and its calls stay that way: they are read through the slope alone,
whatever the form. The form chosen, intercept and all, then reads the
expected edge only, so the newest windows' base rate can still move what
the strategy expects to earn (and its doubt what it must clear), but not
which way the model calls the bar. Without the mirror, one calibration
reads both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 1 / the prior precision of the slope: a N(0, 1) prior against the
# evidence of the weighted windows (scikit-learn's C = 1 in the same fit).
PRIOR_PRECISION_INVERSE = 1.0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class PlattCalibration:
    slope: float
    intercept: float
    # Posterior covariance of (slope, intercept): how far the fitted trust
    # in the model and the fitted base rate could be off. A slope of
    # 0.4 +- 0.5 is a model whose skill the slice could not tell from none;
    # an intercept is a base rate read from n / h independent labels.
    covariance: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))

    @classmethod
    def fit(cls, prob: np.ndarray, label: np.ndarray, intercept: bool = True, horizon: int = 1) -> PlattCalibration:
        """Fitted with each window weighted 1 / horizon, so the windows count
        as the n / h independent labels they are, and a standard normal
        prior on the slope (no trust in the model) that this much evidence
        must overcome. A model with real skill keeps a slope near 1; one
        that fitted noise, however confident, is pulled towards 0."""
        logit = _logit(prob)
        weight = np.full(len(label), 1.0 / horizon)
        slope, offset = _posterior_mode(logit, np.asarray(label, dtype=float), weight, intercept)
        calibrated = cls(slope, offset).apply(prob)
        return cls(slope, offset, _covariance(calibrated, logit, weight, intercept))

    def apply(self, prob: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(prob) + self.intercept)))

    def standard_error(self, prob: np.ndarray) -> np.ndarray:
        """The standard error of apply(prob) from the parameters' own
        uncertainty (the delta method): what the calibrated probability
        could be off by at the model's raw `prob`."""
        calibrated = self.apply(prob)
        slope_gradient, intercept_gradient = (
            calibrated * (1.0 - calibrated) * _logit(prob),
            calibrated * (1.0 - calibrated),
        )
        (ss, si), (_, ii) = self.covariance
        variance = slope_gradient**2 * ss + 2 * slope_gradient * intercept_gradient * si + intercept_gradient**2 * ii
        return np.sqrt(np.maximum(variance, 0.0))


def _posterior_mode(logit: np.ndarray, label: np.ndarray, weight: np.ndarray, intercept: bool) -> tuple[float, float]:
    """(slope, intercept) maximising the weighted log likelihood plus the
    slope's N(0, 1) prior: Newton's method, to the mode itself. The
    covariance below is the curvature there, so an approximate optimum
    (scikit-learn's L-BFGS stops at a gradient of 1e-4, which moved a slope
    by up to 1e-3 on flat validation slices) would misstate the doubt too.
    The problem is convex; a step is halved until it does not lower the
    objective, which keeps a flat or nearly separable slice from diverging.

    The slope is never negative: a model is trusted to rank the windows, or
    not at all. A slope below 0 read a model's ranking backwards wherever
    its scores on the slice had gone the wrong way by chance (25 of the
    demo's 61 versions), called the bars against it, and turned its AUC
    on those very windows into 1 - AUC, which the promotion gate, scoring
    the challenger there, took for skill (p 0.002 on ETH). With the slope
    held at 0 the constrained mode has the intercept of the base rate
    alone (convex: the boundary's own optimum)."""
    if intercept and len(np.unique(label)) < 2:
        # The base rate would run to 0 or 1; the slope has its prior to hold it.
        raise ValueError("a calibration with an intercept needs windows of both outcomes")
    x = np.column_stack([logit, np.ones_like(logit)]) if intercept else logit[:, None]
    precision = np.zeros(x.shape[1])
    precision[0] = 1.0 / PRIOR_PRECISION_INVERSE  # the intercept has no prior
    beta = np.zeros(x.shape[1])
    objective = _log_posterior(beta, x, label, weight, precision)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (weight * (label - p)) - precision * beta
        curvature = (x * (weight * p * (1.0 - p))[:, None]).T @ x + np.diag(precision)
        step = np.linalg.solve(curvature, gradient)
        size = 1.0
        while size > 1e-10:
            trial = beta + size * step
            value = _log_posterior(trial, x, label, weight, precision)
            if value >= objective:
                break
            size /= 2
        else:
            break  # no step improves: at the mode, to the float precision
        beta, objective = trial, value
        if np.max(np.abs(size * step)) < 1e-12:
            break
    if beta[0] < 0.0:
        return 0.0, _base_rate_logit(label, weight) if intercept else 0.0
    return float(beta[0]), float(beta[1]) if intercept else 0.0


def _base_rate_logit(label: np.ndarray, weight: np.ndarray) -> float:
    """The intercept's mode with the slope held at 0: the log odds of the
    slice's (weighted) share of ups, which has both outcomes (checked)."""
    rate = float(np.sum(weight * label) / np.sum(weight))
    return float(np.log(rate / (1.0 - rate)))


def _log_posterior(beta: np.ndarray, x: np.ndarray, label: np.ndarray, weight: np.ndarray, precision: np.ndarray):
    z = x @ beta
    # log sigmoid(z) for label 1, log sigmoid(-z) for label 0, without overflow
    log_likelihood = -np.logaddexp(0.0, np.where(label > 0.5, -z, z))
    return float(np.sum(weight * log_likelihood) - 0.5 * np.sum(precision * beta**2))


def _covariance(calibrated: np.ndarray, logit: np.ndarray, weight: np.ndarray, intercept: bool):
    """The inverse of the log posterior's curvature at the fit (the Laplace
    approximation): the prior's precision on the slope plus the weighted
    Fisher information. The intercept has no prior; a tiny floor keeps the
    matrix invertible when every window has the same probability."""
    variance = weight * calibrated * (1.0 - calibrated)
    slope_info = 1.0 / PRIOR_PRECISION_INVERSE + float(np.sum(variance * logit**2))
    if not intercept:
        return ((1.0 / slope_info, 0.0), (0.0, 0.0))
    cross = float(np.sum(variance * logit))
    inverse = np.linalg.inv(np.array([[slope_info, cross], [cross, float(np.sum(variance)) + 1e-9]]))
    return tuple(tuple(float(v) for v in row) for row in inverse)


def _log_loss(prob: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(prob, 1e-7, 1 - 1e-7)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


def fit_calibration(prob: np.ndarray, label: np.ndarray, form: str, gap: int) -> tuple[PlattCalibration, str]:
    """The calibration `form` asks for, and the form used: temperature,
    platt, or for auto whichever predicts the newer half of the slice
    better from the older half (`gap` windows left out between the halves,
    so no label of one reads a bar of the other)."""
    if len(np.unique(label)) < 2:
        # A flat stretch or a one-way trend as long as the slice: every window
        # went one way. That says nothing of the base rate to come, and
        # Platt's intercept has no finite fit; a run that met one stopped
        # with an error at that retrain, every time it was resumed.
        form = "temperature"
    elif form == "auto":
        half = len(label) // 2
        older, newer = slice(0, half), slice(half + gap, None)
        if half < 10 or len(label[newer]) < 10 or len(np.unique(label[older])) < 2:
            form = "temperature"  # too little to judge: do not move the base rate
        else:
            losses = {
                f: _log_loss(
                    PlattCalibration.fit(prob[older], label[older], f == "platt", gap).apply(prob[newer]), label[newer]
                )
                for f in ("temperature", "platt")
            }
            form = min(losses, key=lambda f: (losses[f], f != "temperature"))
    return PlattCalibration.fit(prob, label, intercept=form == "platt", horizon=gap), form


@dataclass(frozen=True)
class Calibrations:
    """What a model's raw probabilities are read through: `edge` (the form
    asked for) for the expected edge and its doubt; `calls`, when set, for
    the probability itself."""

    edge: PlattCalibration
    form: str  # the form `edge` was fitted in: temperature or platt
    calls: PlattCalibration | None = None


def fit_calibrations(prob: np.ndarray, label: np.ndarray, form: str, gap: int, drift_free_calls: bool) -> Calibrations:
    """fit_calibration's, and for a mirror-trained model whose edge form
    moved the base rate, the slope-only reading of its calls."""
    edge, used = fit_calibration(prob, label, form, gap)
    if not drift_free_calls or used == "temperature":
        return Calibrations(edge, used)  # one reading for both
    return Calibrations(edge, used, PlattCalibration.fit(prob, label, intercept=False, horizon=gap))
