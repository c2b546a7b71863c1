from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.lifecycle.bgnbd import (
    BGNBDParams,
    expected_purchases,
    fit_bgnbd,
    log_likelihood,
    p_alive,
    p_zero,
    rfm_summary,
)


def _simulate(n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int) -> tuple[np.ndarray, ...]:
    """Draw customers from the BG/NBD story itself (loop is fine at test size)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > T:
                break
            x[i] += 1
            tx[i] = t
            if rng.random() < p[i]:
                break
    return x, tx, np.full(n, T)


def test_fit_recovers_simulated_parameters() -> None:
    x, tx, T = _simulate(4000, r=0.5, alpha=5.0, a=0.8, b=3.0, T=40.0, seed=1)
    fit = fit_bgnbd(x, tx, T)
    assert fit.r == pytest.approx(0.5, rel=0.25)
    assert fit.alpha == pytest.approx(5.0, rel=0.35)
    assert fit.a == pytest.approx(0.8, rel=0.4)
    assert fit.b == pytest.approx(3.0, rel=0.5)
    truth = BGNBDParams(r=0.5, alpha=5.0, a=0.8, b=3.0)
    assert fit.log_likelihood >= log_likelihood(truth, x, tx, T) - 1e-6  # the MLE beats the truth in-sample


def test_closed_forms_behave() -> None:
    p = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x = np.array([0.0, 2.0, 2.0, 10.0])
    tx = np.array([0.0, 30.0, 5.0, 38.0])
    T = np.full(4, 39.0)
    alive = p_alive(p, x, tx, T)
    assert alive[0] == 1.0  # no repeat purchase: BG/NBD cannot have seen a dropout
    assert alive[1] > alive[2]  # recent last purchase -> more likely alive
    z1, z2 = p_zero(p, x, tx, T, 10.0), p_zero(p, x, tx, T, 50.0)
    assert np.all((z2 <= z1) & (z1 <= 1.0) & (z2 >= 0.0))
    e1, e2 = expected_purchases(p, 10.0, x, tx, T), expected_purchases(p, 50.0, x, tx, T)
    assert np.all(e2 > e1) and np.all(e1 > 0)
    # Paper, p. 280: a customer with x=2, t_x=30.43, T=38.86 expects about 1.23 purchases in 39 weeks.
    assert expected_purchases(p, 39.0, np.array([2.0]), np.array([30.43]), np.array([38.86]))[0] == pytest.approx(
        1.226, abs=0.03
    )


def test_json_round_trip_and_refusal(tmp_path: Path) -> None:
    p = BGNBDParams(r=1.0, alpha=2.0, a=0.5, b=3.0, unit_days=7.0, log_likelihood=-1.0, n_customers=3)
    p.save(tmp_path / "b.json")
    assert BGNBDParams.load(tmp_path / "b.json") == p
    d = json.loads((tmp_path / "b.json").read_text())
    d["format"] = 99
    (tmp_path / "b.json").write_text(json.dumps(d))
    with pytest.raises(FailedPrecondition, match=r"b\.json"):
        BGNBDParams.load(tmp_path / "b.json")
    with pytest.raises(FailedPrecondition, match="missing"):
        BGNBDParams.load(tmp_path / "nope.json")
    with pytest.raises(InvalidArgument):
        fit_bgnbd(np.array([1.0]), np.array([5.0]), np.array([2.0]))


def test_reproduces_fader_hardie_lee_cdnow_table(data_dir: Path) -> None:
    path = data_dir / "cdnow" / "CDNOW_sample.txt"
    if not path.exists():
        pytest.skip(f"CDNOW sample not found at {path}; set RECSVC_DATA_DIR to the shared data folder")
    from recsvc.data.convert import cdnow_events

    ev = cdnow_events(path)
    # 39-week calibration: purchases up to and including 1997-09-30, weekly units, same-day merged.
    rfm = rfm_summary(ev, pd.Timestamp("1997-10-01", tz="UTC"), unit_days=7.0)
    assert len(rfm) == 2357
    fit = fit_bgnbd(rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy(), unit_days=7.0)
    assert fit.r == pytest.approx(0.243, rel=0.01)
    assert fit.alpha == pytest.approx(4.414, rel=0.01)
    assert fit.a == pytest.approx(0.793, rel=0.01)
    assert fit.b == pytest.approx(2.426, rel=0.01)
    assert fit.log_likelihood == pytest.approx(-9582.4, rel=0.001)
