"""CUPED: theta, the adjusted means and how much variance it removes, on data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from recsvc.errors import InvalidArgument
from recsvc.experiments.cuped import CovariateSums, cuped


def _arm(rng: np.random.Generator, n: int, shift: float, corr: float) -> CovariateSums:
    x = rng.normal(10.0, 2.0, n)
    y = 5.0 + shift + corr * (x - 10.0) / 2.0 + np.sqrt(1 - corr**2) * rng.normal(0.0, 1.0, n)
    return CovariateSums.of(y, x)


def test_sums_give_the_sample_moments() -> None:
    y, x = np.array([1.0, 3.0, 2.0, 6.0]), np.array([0.5, 1.0, 2.0, 4.0])
    s = CovariateSums.of(y, x)
    assert s.mean_y == pytest.approx(3.0) and s.mean_x == pytest.approx(1.875)
    assert s.var_y == pytest.approx(np.var(y, ddof=1)) and s.var_x == pytest.approx(np.var(x, ddof=1))
    assert s.cov_xy == pytest.approx(np.cov(y, x)[0, 1])
    both = CovariateSums.of(y[:2], x[:2]) + CovariateSums.of(y[2:], x[2:])
    assert both.n == s.n
    assert (both.sum_y, both.sum_x, both.sum_yy, both.sum_xx, both.sum_xy) == pytest.approx(
        (s.sum_y, s.sum_x, s.sum_yy, s.sum_xx, s.sum_xy)
    )


def test_exact_linear_relation_is_removed_entirely() -> None:
    # y = 2x + arm effect: theta is 2 on the pooled data and the adjusted variance is zero.
    x = np.arange(1.0, 21.0)
    res = cuped([CovariateSums.of(2 * x, x), CovariateSums.of(2 * x + 1.0, x)])
    assert res.theta == pytest.approx(2.0)
    assert res.absolute_lift == pytest.approx(1.0)
    assert all(a.adjusted_variance == pytest.approx(0.0, abs=1e-9) for a in res.arms)


def test_correlated_covariate_reduces_variance_by_about_corr_squared() -> None:
    rng = np.random.default_rng(7)
    res = cuped([_arm(rng, 20_000, 0.0, 0.8), _arm(rng, 20_000, 0.1, 0.8)])
    assert res.variance_reduction == pytest.approx(0.64, abs=0.02)
    assert res.absolute_ci[0] < 0.1 < res.absolute_ci[1]
    assert res.relative_lift == pytest.approx(0.1 / 5.0, abs=0.01)
    for arm in res.arms:
        assert arm.adjusted_variance < 0.4 * arm.variance


def test_uncorrelated_covariate_changes_almost_nothing() -> None:
    rng = np.random.default_rng(8)
    res = cuped([_arm(rng, 20_000, 0.0, 0.0), _arm(rng, 20_000, 0.0, 0.0)])
    assert abs(res.variance_reduction) < 0.01 and abs(res.theta) < 0.02


def test_too_few_users_is_refused() -> None:
    with pytest.raises(InvalidArgument) as err:
        cuped([CovariateSums.of([1.0], [1.0]), CovariateSums.of([1.0, 2.0], [1.0, 2.0])])
    assert err.value.field == "arms"
