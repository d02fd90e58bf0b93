"""A mirror-trained model's calls stay drift-free; the base rate that an
intercept reads moves its expected edge and its doubt only
(bot/model/calibration.py)."""

from __future__ import annotations

import numpy as np

from bot.model.calibration import PlattCalibration, fit_calibrations
from bot.model.predictor import EdgeMap, Predictor
from bot.model.registry import _predictor_json, _predictor_parts
from bot.model.scaler import Scaler


def _leaning_slice(n: int = 4_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Raw probabilities with real skill, on labels whose base rate is 65%
    throughout: the intercept earns its place in both halves."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.2, 0.8, n)
    label = (rng.random(n) < np.clip(truth + 0.15, 0, 1)).astype(np.float64)
    return truth, label


def test_a_drift_free_model_whose_edge_takes_the_intercept_calls_through_the_slope_alone() -> None:
    prob, label = _leaning_slice()
    fitted = fit_calibrations(prob, label, "auto", gap=1, drift_free_calls=True)
    assert fitted.form == "platt" and fitted.edge.intercept > 0.3  # the base rate carried over
    assert fitted.calls is not None and fitted.calls.intercept == 0.0
    assert fitted.calls.apply(np.array([0.5]))[0] == 0.5  # the 50% line does not move


def test_without_the_mirror_one_calibration_reads_both() -> None:
    prob, label = _leaning_slice()
    assert fit_calibrations(prob, label, "auto", gap=1, drift_free_calls=False).calls is None
    # Nor when the form asked for has no intercept to keep from the calls.
    assert fit_calibrations(prob, label, "temperature", gap=1, drift_free_calls=True).calls is None


class _Raw:
    """A model whose raw probability is the window's first value."""

    def score(self, x: np.ndarray) -> np.ndarray:
        return x[:, -1, 0].astype(np.float64)


def _predictor(calls: PlattCalibration | None) -> Predictor:
    scaler = Scaler(np.zeros(1), np.ones(1))
    return Predictor(
        _Raw(),  # type: ignore[arg-type]
        scaler,
        [0],
        1,
        "v",
        calibration=PlattCalibration(1.0, 0.8, ((0.01, 0.0), (0.0, 0.04))),
        call_calibration=calls,
        edge_map=EdgeMap(0.02, -0.02),
    )


def test_the_calls_and_the_edge_read_their_own_calibrations() -> None:
    windows = np.array([0.3, 0.5, 0.7])[:, None, None]
    leaning, drift_free = _predictor(None).score(windows), _predictor(PlattCalibration(1.0, 0.0)).score(windows)
    np.testing.assert_allclose(drift_free.prob, [0.3, 0.5, 0.7])  # the raw calls, slope 1
    assert (leaning.prob > drift_free.prob).all()  # the intercept's lean, where it is allowed
    # The edge and its doubt are the same either way: the calls do not touch them.
    np.testing.assert_array_equal(drift_free.edge, leaning.edge)
    np.testing.assert_array_equal(drift_free.edge_error, leaning.edge_error)
    assert drift_free.edge[1] > 0  # at a raw 0.5 the base rate still promises an edge


def test_the_calls_calibration_is_saved_and_read_back() -> None:
    saved = _predictor_json(_predictor(PlattCalibration(0.7, 0.0, ((0.02, 0.0), (0.0, 0.0)))))
    parts = _predictor_parts(saved)
    assert parts["call_calibration"] == PlattCalibration(0.7, 0.0, ((0.02, 0.0), (0.0, 0.0)))
    # A version saved before the split has none: one calibration reads both.
    del saved["call_calibration"]
    assert _predictor_parts(saved)["call_calibration"] is None
