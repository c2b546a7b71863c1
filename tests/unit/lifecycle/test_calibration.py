"""Platt calibration of the churn log-odds keeps the ranking and fixes the level; reliability tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from recsvc.errors import FailedPrecondition
from recsvc.lifecycle.calibration import (
    apply_calibration,
    calibrate_logit,
    check_calibration,
    expected_calibration_error,
    fit_platt,
    reliability,
)


def test_platt_fixes_an_overconfident_score_and_keeps_its_order() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(0.0, 1.0, 50_000)
    y = (rng.random(len(true)) < special.expit(true)).astype(float)
    overconfident = 3.0 * true + 1.0  # right order, wrong level
    cal = fit_platt(overconfident, y)
    assert cal["a"] == pytest.approx(1 / 3, abs=0.03) and cal["b"] == pytest.approx(-1 / 3, abs=0.05)
    p = calibrate_logit(cal, overconfident)
    assert np.all(np.diff(p[np.argsort(overconfident)]) >= 0)  # strictly increasing map: same ranking
    before = expected_calibration_error(reliability(special.expit(overconfident), y))
    after = expected_calibration_error(reliability(p, y))
    assert after < 0.02 < before
    np.testing.assert_allclose(apply_calibration(cal, special.expit(overconfident)), p, rtol=1e-9)


def test_reliability_table() -> None:
    p = np.array([0.05, 0.07, 0.5, 0.55, 0.95])
    y = np.array([0, 0, 1, 0, 1])
    t = reliability(p, y)
    assert [r["n"] for r in t] == [2, 2, 1]
    assert t[1]["mean_predicted"] == pytest.approx(0.525) and t[1]["observed_rate"] == 0.5
    assert expected_calibration_error(t) == pytest.approx((2 * 0.06 + 2 * 0.025 + 0.05) / 5)


def test_unknown_calibration_is_refused() -> None:
    with pytest.raises(FailedPrecondition, match="retrain"):
        check_calibration({"method": "isotonic", "x": [], "y": []}, "calibration.json")
    with pytest.raises(FailedPrecondition, match="retrain"):
        check_calibration({"method": "platt", "a": "x"}, "calibration.json")
    assert fit_platt(np.zeros(3), np.ones(3)) == {"method": "platt", "a": 1.0, "b": 0.0}
