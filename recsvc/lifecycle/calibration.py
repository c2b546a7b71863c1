"""Churn probability calibration (Platt scaling on the log-odds) and reliability tables.

Why Platt and not isotonic: isotonic regression is a step function, so it maps many different
risks onto the same value and the ranking (the churn AUC) loses its order inside each step; a
two-parameter logistic map of the model's log-odds is strictly increasing and keeps the ranking.
The map is fitted on a time split before the training cut-off (the latest training cut-off),
never on the period that is judged. ``calibration.json`` holds ``{"method": "platt", "a", "b"}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

from recsvc.errors import FailedPrecondition

_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(special.logit(np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)))


def fit_platt(logit: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """P(churn) = sigmoid(a * logit + b), by maximum likelihood; identity when the labels are all equal."""
    z = np.asarray(logit, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    if len(yy) == 0 or yy.min() == yy.max():
        return {"method": "platt", "a": 1.0, "b": 0.0}

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] * z + theta[1]
        r = special.expit(eta) - yy
        return float(np.mean(np.logaddexp(0.0, eta) - yy * eta)), np.array([np.mean(r * z), np.mean(r)])

    res = optimize.minimize(nll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(1e-3, 100.0), (-50, 50)])
    return {"method": "platt", "a": float(res.x[0]), "b": float(res.x[1])}


def calibrate_logit(cal: dict[str, Any], logit: np.ndarray) -> np.ndarray:
    """Calibrated churn probabilities from the model's log-odds."""
    z = np.asarray(logit, dtype=np.float64)
    method = cal.get("method")
    if method == "platt":
        return np.asarray(special.expit(float(cal["a"]) * z + float(cal["b"])))
    if method == "identity":
        return np.asarray(special.expit(z))
    raise FailedPrecondition(f"unknown churn calibration method {method!r}; retrain the lifecycle model")


def apply_calibration(cal: dict[str, Any], p: np.ndarray) -> np.ndarray:
    """Calibrated churn probabilities from the model's probabilities ``p``."""
    return calibrate_logit(cal, _logit(p))


def check_calibration(cal: Any, where: str) -> dict[str, Any]:
    """``cal`` if it is a calibration this code applies, else FAILED_PRECONDITION naming ``where``."""
    if not isinstance(cal, dict):
        raise FailedPrecondition(f"{where}: malformed calibration; retrain the lifecycle model")
    if cal.get("method") == "identity":
        return cal
    if cal.get("method") != "platt":
        raise FailedPrecondition(
            f"{where}: churn calibration {cal.get('method')!r}, this code reads 'platt'; retrain the lifecycle model"
        )
    try:
        float(cal["a"]), float(cal["b"])
    except (KeyError, TypeError, ValueError):
        raise FailedPrecondition(f"{where}: malformed Platt calibration; retrain the lifecycle model") from None
    return cal


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins of predicted churn: how many users, their mean prediction, the observed rate."""
    pp = np.asarray(p, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(pp, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "n": int(m.sum()),
                    "mean_predicted": float(pp[m].mean()),
                    "observed_rate": float(yy[m].mean()),
                }
            )
    return rows


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    """Users-weighted mean |mean predicted - observed| over the bins of a reliability table."""
    n = sum(r["n"] for r in table)
    if n == 0:
        return float("nan")
    return float(sum(r["n"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in table) / n)
