"""Pareto/NBD "buy till you die" model (Schmittlein, Morrison & Colombo 1987), fitted by maximum
likelihood with the expression of Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD
model and related expressions".

Why beside BG/NBD: BG/NBD lets a customer die only right after a purchase, so a one-time buyer
is sure to be alive; Pareto/NBD lets death come at any time (exponential with rate mu), so a long
silence after a single purchase lowers P(alive) too. Both are four-number JSON artifacts.

Story: purchases at rate lambda ~ Gamma(r, alpha) while alive, lifetime ~ Exp(mu), mu ~ Gamma(s,
beta). Inputs per customer are BG/NBD's (:func:`recsvc.lifecycle.bgnbd.rfm_summary`): ``x`` repeat
transaction days, ``t_x`` the last one's time since the first, ``T`` the first's time to the cut-off,
all in ``unit_days`` units.

The likelihood's death term is an integral, A0, that FHL write with the Gaussian hypergeometric
function 2F1(r+s+x, s+1; r+s+x+1; z) (alpha >= beta) or 2F1(r+s+x, r+x; r+s+x+1; z) (alpha < beta).
Those grow like (1-z)^-s near z = 1 and their prefactor (alpha+t)^-(r+s+x) underflows for heavy
buyers, so this module uses Euler's transformation of the same functions: every factor is a power
taken in logs, and the remaining 2F1(1, b; c; z) with z in [0, 1) is a series of positive terms
(between 1 and c-1 / (c-1-b) when c-1 > b), so nothing overflows and the sum keeps full precision.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special

from recsvc.errors import FailedPrecondition, InvalidArgument

logger = logging.getLogger(__name__)

PARETONBD_FORMAT = 1


@dataclass(frozen=True)
class ParetoNBDParams:
    """Fitted population parameters: lambda ~ Gamma(r, alpha), death rate mu ~ Gamma(s, beta)."""

    r: float
    alpha: float
    s: float
    beta: float
    unit_days: float = 1.0
    log_likelihood: float = float("nan")
    n_customers: int = 0

    def to_json(self) -> dict[str, float | int]:
        d: dict[str, float | int] = dict(asdict(self))
        d["format"] = PARETONBD_FORMAT
        return d

    @classmethod
    def from_json(cls, d: dict[str, float | int], where: str = "<paretonbd>") -> ParetoNBDParams:
        if int(d.get("format", -1)) != PARETONBD_FORMAT:
            raise FailedPrecondition(
                f"{where}: Pareto/NBD format {d.get('format')} != {PARETONBD_FORMAT}; retrain the lifecycle model"
            )
        try:
            return cls(
                r=float(d["r"]),
                alpha=float(d["alpha"]),
                s=float(d["s"]),
                beta=float(d["beta"]),
                unit_days=float(d["unit_days"]),
                log_likelihood=float(d["log_likelihood"]),
                n_customers=int(d["n_customers"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FailedPrecondition(
                f"{where}: bad Pareto/NBD parameters ({exc}); retrain the lifecycle model"
            ) from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> ParetoNBDParams:
        if not path.exists():
            raise FailedPrecondition(f"{path}: missing Pareto/NBD parameters; retrain the lifecycle model")
        try:
            d = json.loads(path.read_text())
        except ValueError as exc:
            raise FailedPrecondition(
                f"{path}: unreadable Pareto/NBD parameters ({exc}); retrain the lifecycle model"
            ) from None
        if not isinstance(d, dict):
            raise FailedPrecondition(
                f"{path}: Pareto/NBD parameters are not a JSON object; retrain the lifecycle model"
            )
        return cls.from_json(d, str(path))


def _log_f(r: float, alpha: float, s: float, beta: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log F(y), where FHL's A0 = F(t_x) - F(T) and F(y) = 2F1(..; z(y)) / (max(alpha, beta) + y)^(r+s+x).

    alpha >= beta: z = (alpha-beta)/(alpha+y) and Euler's transformation gives
    F = (alpha+y)^-(r+x) (beta+y)^-s 2F1(1, r+x; r+s+x+1; z).
    alpha < beta: z = (beta-alpha)/(beta+y) and F = (alpha+y)^(1-r-x) (beta+y)^-(s+1) 2F1(1, s+1; r+s+x+1; z).
    """
    c = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        hyp = special.hyp2f1(1.0, r + x, c, z)
        return np.asarray(-(r + x) * np.log(alpha + y) - s * np.log(beta + y) + np.log(hyp))
    z = (beta - alpha) / (beta + y)
    hyp = special.hyp2f1(1.0, s + 1.0, c, z)
    return np.asarray((1.0 - r - x) * np.log(alpha + y) - (s + 1.0) * np.log(beta + y) + np.log(hyp))


def _log_terms(
    params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, pairs: _Pairs | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(common log factor, log of the alive-at-T term, log of the died-in-(t_x, T] term) per customer;
    the log-likelihood is common + logaddexp(alive, died). ``pairs`` (from :func:`_pairs` on the same
    rows) evaluates log F once per distinct (x, y) instead of twice per customer."""
    r, alpha, s, beta = (float(v) for v in params)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    if pairs is None:
        hi, lo = _log_f(r, alpha, s, beta, x, tx), _log_f(r, alpha, s, beta, x, T)
    else:
        f = _log_f(r, alpha, s, beta, pairs.x, pairs.y)
        hi, lo = f[pairs.at_tx], f[pairs.at_T]
    # log(F(t_x) - F(T)); F falls with y, so the gap is >= 0 up to rounding, and 0 (log -inf) when t_x == T.
    gap = np.minimum(lo - hi, 0.0)
    with np.errstate(divide="ignore"):
        log_a0 = hi + np.log(-np.expm1(gap))
    died = np.log(s) - np.log(r + s + x) + log_a0
    return np.asarray(common), np.asarray(alive), np.asarray(died)


@dataclass(frozen=True)
class _Pairs:
    """The distinct (x, y) at which a set of customers needs log F, y being t_x or T, and where each
    customer's two values are in that list."""

    x: np.ndarray
    y: np.ndarray
    at_tx: np.ndarray
    at_T: np.ndarray


def _pairs(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> _Pairs:
    """Why: the 2F1 calls are nearly all of a likelihood evaluation, and customers share (x, t_x) and
    (x, T) values (whole days, small counts): on the demo app 8,306 calls become 3,338."""
    n = len(x)
    both = np.stack([np.r_[x, x], np.r_[tx, T]], axis=1)
    uniq, inverse = np.unique(both, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    return _Pairs(uniq[:, 0], uniq[:, 1], inverse[:n], inverse[n:])


def _loglik_terms(
    params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, pairs: _Pairs | None = None
) -> np.ndarray:
    common, alive, died = _log_terms(params, x, tx, T, pairs)
    return np.asarray(common + np.logaddexp(alive, died))


def _arrays(*vs: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in vs)


def _vec(p: ParetoNBDParams) -> np.ndarray:
    return np.array([p.r, p.alpha, p.s, p.beta])


def log_likelihood(params: ParetoNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    x, tx, T = _arrays(x, tx, T)
    return float(_loglik_terms(_vec(params), x, tx, T).sum())


def fit_paretonbd(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, *, unit_days: float = 1.0, penalizer: float = 0.0
) -> ParetoNBDParams:
    """Maximum-likelihood fit; identical (x, t_x, T) rows are collapsed, and so are the (x, y) at which
    the 2F1 is needed: about 150 likelihood evaluations, 1 s on the demo app's 5,000 users."""
    x, tx, T = _arrays(x, tx, T)
    if len(x) == 0:
        raise InvalidArgument("Pareto/NBD needs at least one customer", field="events")
    if np.any(tx > T + 1e-9) or np.any(x < 0) or np.any(tx < 0):
        raise InvalidArgument("Pareto/NBD inputs need 0 <= t_x <= T and x >= 0", field="events")
    keys = np.stack([x, np.round(tx, 6), np.round(T, 6)], axis=1)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    ux, utx, uT = uniq[:, 0], uniq[:, 1], uniq[:, 2]
    w = counts.astype(np.float64)
    pairs = _pairs(ux, utx, uT)
    scale = max(float(np.mean(T)), 1e-6)

    def nll(theta: np.ndarray) -> float:
        p = np.exp(theta)
        with np.errstate(all="ignore"):
            val = -float(np.dot(w, _loglik_terms(p, ux, utx, uT, pairs)))
        if not np.isfinite(val):
            return 1e300  # outside the region the optimiser should walk: a wall, not a NaN
        return val + penalizer * float(np.sum(p**2)) if penalizer else val

    best: optimize.OptimizeResult | None = None
    for theta0 in (np.log([1.0, scale, 1.0, scale]), np.log([0.5, scale / 4, 0.5, scale / 4])):
        res = optimize.minimize(
            nll,
            theta0,
            method="L-BFGS-B",
            bounds=[(-12.0, 12.0)] * 4,
            options={"maxiter": 400, "ftol": 1e-11, "gtol": 1e-6},
        )
        if np.isfinite(res.fun) and res.fun < 1e299 and (best is None or res.fun < best.fun):
            best = res
        if best is not None and best.success:
            break  # the second start is only a fallback for a failed first descent
    if best is None:
        raise InvalidArgument("Pareto/NBD fit did not converge on these data", field="events")
    r, alpha, s, beta = (float(v) for v in np.exp(best.x))
    logger.debug("Pareto/NBD fit r=%.4g alpha=%.4g s=%.4g beta=%.4g ll=%.2f", r, alpha, s, beta, -best.fun)
    return ParetoNBDParams(
        r=r, alpha=alpha, s=s, beta=beta, unit_days=unit_days, log_likelihood=-float(best.fun), n_customers=len(x)
    )


def p_alive(p: ParetoNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still alive at T | x, t_x, T): the alive-at-T term's share of the likelihood."""
    x, tx, T = _arrays(x, tx, T)
    _, alive, died = _log_terms(_vec(p), x, tx, T)
    return np.asarray(special.expit(alive - died))


def p_zero(p: ParetoNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """P(no transaction in (T, T+t] | x, t_x, T).

    The likelihood L(x, t_x, T) is the density of the observed purchases with none in (t_x, T]; so
    L(x, t_x, T+t) is that of the same purchases with none in (t_x, T+t], and the ratio of the two is
    exactly the posterior probability of silence in (T, T+t]: dead by T, or alive with death time D
    after T and no purchase before min(D, T+t). (Integrating the latter over the posterior gives the
    same number; the tests check it.)"""
    x, tx, T = _arrays(x, tx, T)
    v = _vec(p)
    with np.errstate(all="ignore"):
        ratio = np.exp(_loglik_terms(v, x, tx, T + t) - _loglik_terms(v, x, tx, T))
    return np.asarray(np.clip(ratio, 0.0, 1.0))


def _one_minus_q_pow(q: np.ndarray, k: float) -> np.ndarray:
    """(1 - q^k) / k, and its limit -log q at k = 0, for 0 < q <= 1."""
    lq = np.log(q)
    if abs(k) < 1e-9:
        return np.asarray(-lq)
    return np.asarray(-np.expm1(k * lq) / k)


def expected_purchases(
    p: ParetoNBDParams,
    t: float | np.ndarray,
    x: np.ndarray | None = None,
    tx: np.ndarray | None = None,
    T: np.ndarray | None = None,
) -> np.ndarray:
    """E[transactions in the next t]: E[X(t)] for a new customer, or conditional on (x, t_x, T).

    Alive, the posterior is lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T), independent, and
    E[lambda (1 - e^-mu t) / mu] = (r+x)/(alpha+T) * (beta+T)/(s-1) * (1 - ((beta+T)/(beta+T+t))^(s-1))."""
    if x is None or tx is None or T is None:
        tt = np.asarray(t, dtype=np.float64)
        return np.asarray(p.r / p.alpha * p.beta * _one_minus_q_pow(p.beta / (p.beta + tt), p.s - 1.0))
    x, tx, T = _arrays(x, tx, T)
    b = p.beta + T
    given_alive = (p.r + x) / (p.alpha + T) * b * _one_minus_q_pow(b / (b + t), p.s - 1.0)
    return np.asarray(given_alive * p_alive(p, x, tx, T))
