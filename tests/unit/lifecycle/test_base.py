"""The churn base model: a logistic regression over BG/NBD's horizon scores, recency and frequency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.metrics import roc_auc_score

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.lifecycle.base import BASE_INPUTS, BaseModel, base_inputs


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Users whose churn follows a known logistic law in the base's transformed inputs."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "bgnbd_p_zero_h": rng.uniform(0.05, 0.95, n),
            "bgnbd_expected_h": rng.gamma(1.0, 1.0, n),
            "recency_days": rng.exponential(40.0, n),
            "active_days_all": rng.integers(1, 30, n).astype(float),
            "gap_p_no_return_h": rng.uniform(0.05, 0.95, n),
            "avg_order_value": rng.gamma(2.0, 20.0, n),
        }
    ).astype(np.float32)
    z = base_inputs(f)
    eta = 0.3 + 1.2 * z[:, 0] - 0.5 * z[:, 1] + 0.4 * (z[:, 2] - z[:, 2].mean())
    return f, (rng.random(n) < special.expit(eta)).astype(np.int8)


def test_fit_recovers_the_law_and_ranks_like_it() -> None:
    f, y = _frame(20_000, 1)
    m = BaseModel.fit(f, y)
    z = base_inputs(f)
    coef = np.asarray(m.coef) / np.asarray(m.scale)  # back to the unstandardised inputs
    np.testing.assert_allclose(coef[:3], [1.2, -0.5, 0.4], atol=0.12)
    assert abs(coef[3]) < 0.12 and abs(coef[4]) < 0.12 and abs(coef[5]) < 0.12
    truth = 1.2 * z[:, 0] - 0.5 * z[:, 1] + 0.4 * z[:, 2]
    assert roc_auc_score(y, m.logit(f)) >= roc_auc_score(y, truth) - 0.005
    # The terms add up to the log-odds, each on its own feature.
    np.testing.assert_allclose(m.intercept + m.contributions(f).sum(axis=1), m.logit(f))


def test_missing_activity_is_read_as_gone() -> None:
    """No activity (all NaN): no purchase expected, ten years silent; finite, and riskier than a buyer."""
    f, y = _frame(5_000, 2)
    m = BaseModel.fit(f, y)
    cold = pd.DataFrame({c: [np.nan] for c in BASE_INPUTS})
    buyer = pd.DataFrame(
        {
            "bgnbd_p_zero_h": [0.1],
            "bgnbd_expected_h": [3.0],
            "recency_days": [2.0],
            "active_days_all": [9.0],
            "gap_p_no_return_h": [0.2],
            "avg_order_value": [25.0],
        }
    )
    assert np.isfinite(m.logit(cold)).all() and m.logit(cold)[0] > m.logit(buyer)[0]


def test_round_trip_and_refusals(tmp_path: Path) -> None:
    f, y = _frame(2_000, 3)
    m = BaseModel.fit(f, y)
    m.save(tmp_path / "base.json")
    assert BaseModel.load(tmp_path / "base.json") == m
    d = json.loads((tmp_path / "base.json").read_text())
    d["inputs"] = ["recency_days"]
    (tmp_path / "old.json").write_text(json.dumps(d))
    with pytest.raises(FailedPrecondition, match="retrain"):
        BaseModel.load(tmp_path / "old.json")
    # A format-1 base (four inputs, no gap survival) is refused with a request to retrain.
    d = json.loads((tmp_path / "base.json").read_text())
    d.update(format=1, inputs=list(BASE_INPUTS[:4]), coef=d["coef"][:4], mean=d["mean"][:4], scale=d["scale"][:4])
    (tmp_path / "v1.json").write_text(json.dumps(d))
    with pytest.raises(FailedPrecondition, match="retrain"):
        BaseModel.load(tmp_path / "v1.json")
    with pytest.raises(FailedPrecondition, match="retrain"):
        BaseModel.load(tmp_path / "absent.json")
    with pytest.raises(InvalidArgument, match="both churned and retained"):
        BaseModel.fit(f, np.ones(len(f)))
    with pytest.raises(InvalidArgument, match="recency_days"):
        BaseModel.fit(f.drop(columns=["recency_days"]), y)
