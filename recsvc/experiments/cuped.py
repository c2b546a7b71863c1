"""CUPED: a metric adjusted by its own pre-period value, for narrower intervals at the same traffic.

Each arm is summarised by sufficient statistics (n and the sums of y, x, y^2, x^2, xy, where y is the
metric during the experiment and x the same user's pre-period value), so a database can compute them
with one GROUP BY. theta = cov(y, x) / var(x) on the pooled data of all arms; each arm's adjusted mean
is mean(y) - theta (mean(x) - pooled mean(x)) and its per-user variance is
var(y) + theta^2 var(x) - 2 theta cov(y, x), which is var(y) (1 - corr^2) at the best theta.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsvc.errors import InvalidArgument
from recsvc.experiments.stats import DEFAULT_ALPHA, normal_quantile, relative_lift_variance, two_sided_p


@dataclass(frozen=True)
class CovariateSums:
    """One arm's sufficient statistics of a metric y and its pre-period covariate x."""

    n: int
    sum_y: float
    sum_x: float
    sum_yy: float
    sum_xx: float
    sum_xy: float

    @classmethod
    def of(cls, y: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray) -> CovariateSums:
        ya, xa = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        if ya.shape != xa.shape or ya.ndim != 1:
            raise InvalidArgument("cuped: y and x must be 1-d and of one length", field="covariate")
        return cls(
            int(ya.size),
            float(ya.sum()),
            float(xa.sum()),
            float(ya @ ya),
            float(xa @ xa),
            float(ya @ xa),
        )

    def __add__(self, other: CovariateSums) -> CovariateSums:
        return CovariateSums(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_x + other.sum_x,
            self.sum_yy + other.sum_yy,
            self.sum_xx + other.sum_xx,
            self.sum_xy + other.sum_xy,
        )

    @property
    def mean_y(self) -> float:
        return self.sum_y / self.n

    @property
    def mean_x(self) -> float:
        return self.sum_x / self.n

    def _co(self, s_ab: float, s_a: float, s_b: float) -> float:
        """Sample (co)variance from sums, with n - 1 in the denominator."""
        return (s_ab - s_a * s_b / self.n) / (self.n - 1) if self.n > 1 else 0.0

    @property
    def var_y(self) -> float:
        return max(0.0, self._co(self.sum_yy, self.sum_y, self.sum_y))

    @property
    def var_x(self) -> float:
        return max(0.0, self._co(self.sum_xx, self.sum_x, self.sum_x))

    @property
    def cov_xy(self) -> float:
        return self._co(self.sum_xy, self.sum_x, self.sum_y)


@dataclass(frozen=True)
class AdjustedArm:
    n: int
    mean: float  # unadjusted mean of y
    variance: float  # unadjusted per-user variance of y
    adjusted_mean: float
    adjusted_variance: float


@dataclass(frozen=True)
class CupedResult:
    theta: float
    arms: tuple[AdjustedArm, ...]
    variance_reduction: float  # 1 - adjusted / unadjusted variance of the estimated difference
    absolute_lift: float  # last arm minus first, on the adjusted means
    absolute_ci: tuple[float, float]
    relative_lift: float
    relative_ci: tuple[float, float]
    p_value: float


def cuped(arms: Sequence[CovariateSums], alpha: float = DEFAULT_ALPHA) -> CupedResult:
    """Adjust every arm; compare the last arm (treatment) with the first (control)."""
    if len(arms) < 2 or any(a.n < 2 for a in arms):
        raise InvalidArgument("cuped: need at least two arms of at least two users each", field="arms")
    pooled = arms[0]
    for a in arms[1:]:
        pooled = pooled + a
    theta = pooled.cov_xy / pooled.var_x if pooled.var_x > 0 else 0.0
    adjusted = tuple(
        AdjustedArm(
            n=a.n,
            mean=a.mean_y,
            variance=a.var_y,
            adjusted_mean=a.mean_y - theta * (a.mean_x - pooled.mean_x),
            adjusted_variance=max(0.0, a.var_y + theta * theta * a.var_x - 2.0 * theta * a.cov_xy),
        )
        for a in arms
    )
    c, t = adjusted[0], adjusted[-1]
    raw_var = c.variance / c.n + t.variance / t.n
    adj_var = c.adjusted_variance / c.n + t.adjusted_variance / t.n
    z_crit = normal_quantile(1.0 - alpha / 2.0)
    diff = t.adjusted_mean - c.adjusted_mean
    se = math.sqrt(adj_var)
    if c.adjusted_mean != 0:
        rel = diff / c.adjusted_mean
        rel_se = math.sqrt(
            relative_lift_variance(c.adjusted_mean, c.adjusted_variance, c.n, t.adjusted_mean, t.adjusted_variance, t.n)
        )
    else:
        rel, rel_se = 0.0, math.inf
    return CupedResult(
        theta=theta,
        arms=adjusted,
        variance_reduction=1.0 - adj_var / raw_var if raw_var > 0 else 0.0,
        absolute_lift=diff,
        absolute_ci=(diff - z_crit * se, diff + z_crit * se),
        relative_lift=rel,
        relative_ci=(rel - z_crit * rel_se, rel + z_crit * rel_se),
        p_value=two_sided_p(diff / se) if se > 0 else 1.0,
    )
