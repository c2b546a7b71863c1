from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.lifecycle.bgnbd import rfm_summary
from recsvc.lifecycle.paretonbd import (
    ParetoNBDParams,
    _log_terms,
    _pairs,
    expected_purchases,
    fit_paretonbd,
    log_likelihood,
    p_alive,
    p_zero,
)

# The published CDNOW-sample fit (weeks), and one with alpha < beta the other way round.
PAPER = ParetoNBDParams(r=0.5533, alpha=10.5776, s=0.6061, beta=11.6650)
FLIPPED = ParetoNBDParams(r=0.8, alpha=20.0, s=1.7, beta=6.0)


def _simulate(n: int, p: ParetoNBDParams, T: float, seed: int) -> tuple[np.ndarray, ...]:
    """Customers from the Pareto/NBD story: Poisson purchases at lambda until an Exp(mu) death."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(p.r, 1.0 / p.alpha, n)
    mu = rng.gamma(p.s, 1.0 / p.beta, n)
    life = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * life).astype(np.float64)
    # The last of x uniform purchase times on (0, life) is life * U^(1/x).
    tx = np.where(x > 0, life * rng.random(n) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    return x, tx, np.full(n, T)


def test_fit_recovers_simulated_parameters() -> None:
    truth = ParetoNBDParams(r=0.6, alpha=8.0, s=0.7, beta=12.0)
    x, tx, T = _simulate(6000, truth, T=40.0, seed=3)
    fit = fit_paretonbd(x, tx, T)
    assert fit.r == pytest.approx(truth.r, rel=0.25)
    assert fit.alpha == pytest.approx(truth.alpha, rel=0.35)
    assert fit.s == pytest.approx(truth.s, rel=0.5)
    assert fit.beta == pytest.approx(truth.beta, rel=0.8)
    assert fit.log_likelihood >= log_likelihood(truth, x, tx, T) - 1e-6  # the MLE beats the truth in-sample


@pytest.mark.parametrize("p", [PAPER, FLIPPED], ids=["alpha<beta", "alpha>beta"])
def test_death_term_is_the_integral(p: ParetoNBDParams) -> None:
    """The hypergeometric A0 equals s * integral over the death time in (t_x, T], both branches."""
    x = np.array([0.0, 1.0, 3.0, 40.0, 2.0])
    tx = np.array([0.0, 2.0, 20.0, 35.0, 30.0])
    T = np.array([39.0, 39.0, 39.0, 39.0, 30.0])
    _, _, died = _log_terms(np.array([p.r, p.alpha, p.s, p.beta]), x, tx, T)
    for i in range(len(x)):

        def f(tau: float, i: int = i) -> float:
            return float(np.exp(-(p.r + x[i]) * np.log(p.alpha + tau) - (p.s + 1) * np.log(p.beta + tau)))

        want = p.s * integrate.quad(f, tx[i], T[i], epsrel=1e-12, epsabs=0.0)[0]
        got = float(np.exp(died[i]))
        assert got == pytest.approx(want, rel=1e-7, abs=1e-300)
    # The fit's shared (x, y) evaluation gives the same terms.
    shared = _log_terms(np.array([p.r, p.alpha, p.s, p.beta]), x, tx, T, _pairs(x, tx, T))
    np.testing.assert_allclose(shared[2], died, rtol=1e-12)
    # Heavy buyers: every term stays finite (the plain form's powers would underflow to 0/0).
    big = _log_terms(np.array([p.r, p.alpha, p.s, p.beta]), np.array([3000.0]), np.array([300.0]), np.array([400.0]))
    assert all(np.isfinite(v).all() for v in big)


def _posterior_silence(p: ParetoNBDParams, x: float, T: float, t: float) -> tuple[float, float]:
    """E[P(no purchase in (T, T+t]) | alive] and E[purchases in t | alive] by quadrature over the
    posterior lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T)."""
    nodes, weights = np.polynomial.legendre.leggauss(400)
    u = (nodes + 1) / 2
    w = weights / 2
    lam = stats.gamma.ppf(u, p.r + x, scale=1.0 / (p.alpha + T))[:, None]
    mu = stats.gamma.ppf(u, p.s, scale=1.0 / (p.beta + T))[None, :]
    tot = lam + mu
    # Death D ~ Exp(mu) after T: silent if it comes before the first purchase or the horizon's end.
    silent = mu / tot + lam / tot * np.exp(-tot * t)
    buys = lam * -np.expm1(-mu * t) / mu
    ww = w[:, None] * w[None, :]
    return float((ww * silent).sum()), float((ww * buys).sum())


@pytest.mark.parametrize("p", [PAPER, FLIPPED], ids=["alpha<beta", "alpha>beta"])
def test_closed_forms_match_the_posterior(p: ParetoNBDParams) -> None:
    x = np.array([0.0, 2.0, 2.0, 10.0])
    tx = np.array([0.0, 30.0, 5.0, 38.0])
    T = np.full(4, 39.0)
    alive = p_alive(p, x, tx, T)
    assert alive[1] > alive[2]  # recent last purchase -> more likely alive
    assert alive[0] < 1.0  # unlike BG/NBD, a one-time buyer may have died
    for t in (10.0, 52.0):
        z = p_zero(p, x, tx, T, t)
        e = expected_purchases(p, t, x, tx, T)
        for i in range(len(x)):
            silent, buys = _posterior_silence(p, x[i], T[i], t)
            assert z[i] == pytest.approx(alive[i] * silent + 1 - alive[i], abs=2e-4)
            assert e[i] == pytest.approx(alive[i] * buys, rel=2e-3)
    z1, z2 = p_zero(p, x, tx, T, 10.0), p_zero(p, x, tx, T, 50.0)
    assert np.all((z2 <= z1) & (z1 <= 1.0) & (z2 >= 1.0 - alive - 1e-12))
    # A new customer's E[X(t)] is the integral of the purchase rate over the survival.
    lam = p.r / p.alpha
    surv = integrate.quad(lambda u: (p.beta / (p.beta + u)) ** p.s, 0.0, 39.0)[0]
    assert float(expected_purchases(p, 39.0)) == pytest.approx(lam * surv, rel=1e-8)
    near_one = ParetoNBDParams(r=p.r, alpha=p.alpha, s=1.0, beta=p.beta)
    assert float(expected_purchases(near_one, 39.0)) == pytest.approx(lam * p.beta * np.log1p(39.0 / p.beta))


def test_json_round_trip_and_refusal(tmp_path: Path) -> None:
    p = ParetoNBDParams(r=1.0, alpha=2.0, s=0.5, beta=3.0, unit_days=7.0, log_likelihood=-1.0, n_customers=3)
    p.save(tmp_path / "p.json")
    assert ParetoNBDParams.load(tmp_path / "p.json") == p
    d = json.loads((tmp_path / "p.json").read_text())
    d["format"] = 99
    (tmp_path / "p.json").write_text(json.dumps(d))
    with pytest.raises(FailedPrecondition, match=r"p\.json"):
        ParetoNBDParams.load(tmp_path / "p.json")
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(FailedPrecondition, match="unreadable"):
        ParetoNBDParams.load(tmp_path / "p.json")
    with pytest.raises(FailedPrecondition, match="missing"):
        ParetoNBDParams.load(tmp_path / "nope.json")
    with pytest.raises(InvalidArgument):
        fit_paretonbd(np.array([1.0]), np.array([5.0]), np.array([2.0]))
    with pytest.raises(InvalidArgument):
        fit_paretonbd(np.array([]), np.array([]), np.array([]))


def test_reproduces_fader_hardie_lee_cdnow_fit(data_dir: Path) -> None:
    path = data_dir / "cdnow" / "CDNOW_sample.txt"
    if not path.exists():
        pytest.skip(f"CDNOW sample not found at {path}; set RECSVC_DATA_DIR to the shared data folder")
    from recsvc.data.convert import cdnow_events

    ev = cdnow_events(path)
    # 39-week calibration: purchases up to and including 1997-09-30, weekly units, same-day merged.
    rfm = rfm_summary(ev, pd.Timestamp("1997-10-01", tz="UTC"), unit_days=7.0)
    assert len(rfm) == 2357
    x, tx, T = (rfm[c].to_numpy() for c in ("x", "t_x", "T"))
    fit = fit_paretonbd(x, tx, T, unit_days=7.0)
    assert fit.r == pytest.approx(0.5533, rel=0.01)
    assert fit.alpha == pytest.approx(10.5776, rel=0.01)
    assert fit.s == pytest.approx(0.6061, rel=0.01)
    assert fit.beta == pytest.approx(11.6650, rel=0.01)
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.5)
    assert log_likelihood(PAPER, x, tx, T) == pytest.approx(-9595.0, abs=0.5)
    # Paper's note: P(alive) and E[purchases] are bounded and ordered the obvious way on real rows.
    alive = p_alive(fit, x, tx, T)
    assert np.all((alive > 0) & (alive <= 1)) and np.isfinite(special.logit(np.clip(alive, 1e-12, 1 - 1e-12))).all()
