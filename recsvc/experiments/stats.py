"""The statistics of an experiment report: rates with intervals, lifts, tests, sample sizes.

Rates are conversions over trials (clicks over sends, say). The fixed-horizon test is the pooled
two-proportion z-test; its p-value is only valid when read once, at the planned sample size. The
sequential test is a mixture SPRT (a normal mixture over the effect, as in Johari et al. and in
GrowthBook's sequential testing, following Waudby-Smith et al. 2023): its p-value and interval stay
valid however often they are read. Relative lift uses the delta method on the ratio of means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

from recsvc.errors import InvalidArgument

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
SRM_THRESHOLD = 0.001  # GrowthBook flags a sample-ratio mismatch below this p-value
# The total sample size at which the always-valid interval is narrowest (GrowthBook's default).
DEFAULT_TUNING_N = 5000.0


def normal_cdf(x: float) -> float:
    return float(special.ndtr(x))


def normal_quantile(q: float) -> float:
    return float(special.ndtri(q))


def two_sided_p(z: float) -> float:
    return float(2.0 * special.ndtr(-abs(z)))


def _check_counts(successes: int, trials: int, field: str) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise InvalidArgument(f"{field}: need 0 <= successes <= trials, got {successes}/{trials}", field=field)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidArgument(f"alpha must be in (0, 1), got {alpha}", field="alpha")


@dataclass(frozen=True)
class Rate:
    """One arm's rate with its Wilson interval (which behaves at small counts and rates near 0)."""

    successes: int
    trials: int
    rate: float
    ci: tuple[float, float]


def wilson_interval(successes: int, trials: int, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    _check_counts(successes, trials, "successes")
    if trials == 0:
        return (0.0, 1.0)
    z = normal_quantile(1.0 - alpha / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, trials: int, alpha: float = DEFAULT_ALPHA) -> Rate:
    r = successes / trials if trials else 0.0
    return Rate(successes, trials, r, wilson_interval(successes, trials, alpha))


@dataclass(frozen=True)
class Comparison:
    """Treatment against control: the fixed-horizon test and the lifts with their intervals."""

    control: Rate
    treatment: Rate
    z: float  # pooled two-proportion z statistic
    p_value: float  # two-sided, fixed horizon
    absolute_lift: float  # treatment rate minus control rate
    absolute_ci: tuple[float, float]
    relative_lift: float  # (treatment - control) / control
    relative_ci: tuple[float, float]
    relative_se: float


def relative_lift_variance(mean_c: float, var_c: float, n_c: float, mean_t: float, var_t: float, n_t: float) -> float:
    """Delta-method variance of (mean_t - mean_c) / mean_c, from per-unit variances."""
    return var_t / (mean_c**2 * n_t) + var_c * mean_t**2 / (mean_c**4 * n_c)


def compare_rates(control: tuple[int, int], treatment: tuple[int, int], alpha: float = DEFAULT_ALPHA) -> Comparison:
    """``control`` and ``treatment`` are (successes, trials)."""
    _check_alpha(alpha)
    (sc, nc), (st, nt) = control, treatment
    _check_counts(sc, nc, "control")
    _check_counts(st, nt, "treatment")
    rc, rt = rate(sc, nc, alpha), rate(st, nt, alpha)
    z_crit = normal_quantile(1.0 - alpha / 2.0)
    pc, pt = rc.rate, rt.rate
    pooled = (sc + st) / (nc + nt) if nc + nt else 0.0
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt)) if nc and nt else 0.0
    z = (pt - pc) / se_pooled if se_pooled > 0 else 0.0
    diff = pt - pc
    se_diff = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt) if nc and nt else 0.0
    if pc > 0 and nc and nt:
        rel = diff / pc
        rel_se = math.sqrt(relative_lift_variance(pc, pc * (1 - pc), nc, pt, pt * (1 - pt), nt))
    else:
        rel, rel_se = 0.0, math.inf
    return Comparison(
        control=rc,
        treatment=rt,
        z=z,
        p_value=two_sided_p(z) if se_pooled > 0 else 1.0,
        absolute_lift=diff,
        absolute_ci=(diff - z_crit * se_diff, diff + z_crit * se_diff),
        relative_lift=rel,
        relative_ci=(rel - z_crit * rel_se, rel + z_crit * rel_se),
        relative_se=rel_se,
    )


# ---- planning -------------------------------------------------------------------------------
def _check_plan(baseline: float, relative_effect: float, alpha: float, power: float) -> None:
    if not 0.0 < baseline < 1.0:
        raise InvalidArgument(f"baseline rate must be in (0, 1), got {baseline}", field="baseline")
    if relative_effect == 0.0 or not 0.0 < baseline * (1.0 + relative_effect) < 1.0:
        raise InvalidArgument(
            f"relative effect {relative_effect} must be non-zero and keep the rate in (0, 1)", field="mde"
        )
    _check_alpha(alpha)
    if not 0.0 < power < 1.0:
        raise InvalidArgument(f"power must be in (0, 1), got {power}", field="power")


def sample_size_per_arm(
    baseline: float, relative_effect: float, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER
) -> int:
    """Users per arm for a two-sided two-proportion test to detect ``baseline * (1 + relative_effect)``.

    The standard formula: n = (z_(1-a/2) sqrt(2 p(1-p)) + z_(1-b) sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2,
    with p the mean of p1 and p2 (no continuity correction).
    """
    _check_plan(baseline, relative_effect, alpha, power)
    p1, p2 = baseline, baseline * (1.0 + relative_effect)
    p_bar = (p1 + p2) / 2.0
    z_a, z_b = normal_quantile(1.0 - alpha / 2.0), normal_quantile(power)
    root = z_a * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (p2 - p1) ** 2)


def power_of(baseline: float, relative_effect: float, n_per_arm: int, alpha: float = DEFAULT_ALPHA) -> float:
    """The power of that test with ``n_per_arm`` users per arm (the formula above solved for power)."""
    _check_plan(baseline, relative_effect, alpha, 0.5)
    p1, p2 = baseline, baseline * (1.0 + relative_effect)
    p_bar = (p1 + p2) / 2.0
    z_a = normal_quantile(1.0 - alpha / 2.0)
    num = abs(p2 - p1) * math.sqrt(n_per_arm) - z_a * math.sqrt(2.0 * p_bar * (1.0 - p_bar))
    return normal_cdf(num / math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))


def minimum_detectable_effect(
    baseline: float, n_per_arm: int, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER
) -> float:
    """The smallest positive relative lift detected with ``power`` at ``n_per_arm`` (bisection)."""
    if n_per_arm < 1:
        raise InvalidArgument(f"n_per_arm must be >= 1, got {n_per_arm}", field="n_per_arm")
    lo, hi = 1e-9, (1.0 - 1e-9) / baseline - 1.0
    _check_plan(baseline, hi, alpha, power)
    if power_of(baseline, hi, n_per_arm, alpha) < power:
        return math.inf
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if power_of(baseline, mid, n_per_arm, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi


# ---- sequential (always valid) --------------------------------------------------------------
@dataclass(frozen=True)
class SequentialResult:
    estimate: float
    p_value: float  # always valid: P(ever below alpha | no effect) <= alpha
    ci: tuple[float, float]  # a confidence sequence: covers at every look with probability 1 - alpha


def mixture_rho(alpha: float, tuning_n: float) -> float:
    """The mixing scale that makes the interval narrowest at total sample size ``tuning_n``."""
    return math.sqrt((-2.0 * math.log(alpha) + math.log(-2.0 * math.log(alpha) + 1.0)) / tuning_n)


def sequential_test(
    estimate: float, se: float, n_total: float, alpha: float = DEFAULT_ALPHA, tuning_n: float = DEFAULT_TUNING_N
) -> SequentialResult:
    """mSPRT with a normal mixture for an asymptotically normal estimate with standard error ``se``.

    ``n_total`` counts units in both arms. The e-value is exp(r^2 n z^2 / (2 (n r^2 + 1))) / sqrt(n r^2 + 1)
    with z = estimate / se; the p-value is its reciprocal (capped at 1), and the interval is the set of
    effects that this test would not reject.
    """
    _check_alpha(alpha)
    if tuning_n <= 0:
        raise InvalidArgument(f"tuning_n must be > 0, got {tuning_n}", field="tuning_n")
    if n_total <= 0 or not se > 0 or not math.isfinite(se):
        return SequentialResult(estimate, 1.0, (-math.inf, math.inf))
    rho2 = mixture_rho(alpha, tuning_n) ** 2
    tr2p1 = n_total * rho2 + 1.0
    z2 = (estimate / se) ** 2
    log_e = rho2 * n_total * z2 / (2.0 * tr2p1) - 0.5 * math.log(tr2p1)
    p = 1.0 if log_e <= 0 else math.exp(-log_e)
    s2 = se * se * n_total  # the per-unit variance the interval is written in
    half = math.sqrt(s2 * 2.0 * tr2p1 * math.log(math.sqrt(tr2p1) / alpha) / (n_total * n_total * rho2))
    return SequentialResult(estimate, min(p, 1.0), (estimate - half, estimate + half))


def sequential_compare(
    control: tuple[int, int],
    treatment: tuple[int, int],
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
    relative: bool = True,
) -> SequentialResult:
    """The always-valid test of two rates on the relative lift (or the absolute one)."""
    c = compare_rates(control, treatment, alpha)
    n = control[1] + treatment[1]
    if relative:
        return sequential_test(c.relative_lift, c.relative_se, n, alpha, tuning_n)
    pc, pt = c.control.rate, c.treatment.rate
    nc, nt = control[1], treatment[1]
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt) if nc and nt else 0.0
    return sequential_test(c.absolute_lift, se, n, alpha, tuning_n)


# ---- sample-ratio mismatch ------------------------------------------------------------------
@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    mismatch: bool  # p below SRM_THRESHOLD: the assignment or the logging is broken, distrust the lift


def srm_check(counts: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Pearson's chi-square of the users per arm against the planned weights (k - 1 degrees of freedom)."""
    if len(counts) != len(weights) or len(counts) < 2:
        raise InvalidArgument("srm: need one count per weight, at least two arms", field="weights")
    total_w = float(sum(weights))
    if total_w <= 0 or any(w <= 0 for w in weights):
        raise InvalidArgument("srm: weights must be > 0", field="weights")
    n = float(sum(counts))
    if n == 0:
        return SrmResult(0.0, 1.0, False)
    chi2 = sum((c - n * w / total_w) ** 2 / (n * w / total_w) for c, w in zip(counts, weights, strict=True))
    p = float(special.chdtrc(len(counts) - 1, chi2))
    return SrmResult(chi2, p, p < threshold)
