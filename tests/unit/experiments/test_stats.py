"""The report's statistics on small cases whose answers are known (worked by hand, checked against scipy)."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from recsvc.errors import InvalidArgument
from recsvc.experiments.stats import (
    compare_rates,
    minimum_detectable_effect,
    mixture_rho,
    power_of,
    sample_size_per_arm,
    sequential_compare,
    sequential_test,
    srm_check,
    wilson_interval,
)


def test_textbook_two_proportion_test() -> None:
    # 200/1000 vs 250/1000: pooled p = 0.225, se = sqrt(0.225 * 0.775 * 2/1000) = 0.018675, z = 0.05 / se.
    res = compare_rates((200, 1000), (250, 1000))
    assert res.z == pytest.approx(2.6774, abs=1e-4)
    assert res.p_value == pytest.approx(0.007420, abs=1e-5)
    # The pooled z-test is the 2x2 chi-square test without continuity correction: z^2 = chi2, same p.
    chi2, p, _, _ = scipy_stats.chi2_contingency([[200, 800], [250, 750]], correction=False)
    assert res.z**2 == pytest.approx(chi2) and res.p_value == pytest.approx(p)
    # Absolute lift 0.05 with the unpooled Wald interval: se = sqrt(.2*.8/1000 + .25*.75/1000) = 0.0186414.
    assert res.absolute_lift == pytest.approx(0.05)
    assert res.absolute_ci == pytest.approx((0.05 - 1.959964 * 0.0186414, 0.05 + 1.959964 * 0.0186414), abs=1e-6)


def test_relative_lift_interval_by_the_delta_method() -> None:
    # var = pt(1-pt)/(pc^2 n) + pc(1-pc) pt^2/(pc^4 n) = 0.0046875 + 0.00625 = 0.0109375; se = 0.104583.
    res = compare_rates((200, 1000), (250, 1000))
    assert res.relative_lift == pytest.approx(0.25)
    assert res.relative_se == pytest.approx(math.sqrt(0.0109375))
    assert res.relative_ci == pytest.approx((0.045022, 0.454978), abs=1e-5)


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(200, 1000) == pytest.approx((0.176377, 0.225919), abs=1e-5)
    lo, hi = wilson_interval(0, 10)  # no successes: the interval still has width, and starts at 0
    assert lo == 0.0 and hi == pytest.approx(0.277533, abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sample_size_matches_the_standard_formula() -> None:
    # p1 = 0.10, p2 = 0.11: (1.959964 sqrt(2 * .105 * .895) + 0.841621 sqrt(.09 + .0979))^2 / 0.01^2 = 14750.8
    assert sample_size_per_arm(0.10, 0.10) == 14751
    # 5% baseline, +10%: the benchmark's plan.
    assert sample_size_per_arm(0.05, 0.10) == 31234
    # Tighter alpha or more power needs more users.
    assert sample_size_per_arm(0.10, 0.10, alpha=0.01) > 14751 < sample_size_per_arm(0.10, 0.10, power=0.9)


def test_power_and_mde_invert_the_sample_size() -> None:
    n = sample_size_per_arm(0.10, 0.10)
    assert power_of(0.10, 0.10, n) == pytest.approx(0.80, abs=1e-3)
    assert minimum_detectable_effect(0.10, n) == pytest.approx(0.10, abs=1e-4)
    assert minimum_detectable_effect(0.10, 4 * n) == pytest.approx(0.05, rel=0.05)  # 4x the users: about half


def test_known_srm_cases() -> None:
    # 5,000 vs 5,300 planned 50/50: expected 5,150 each, chi2 = 2 * 150^2 / 5150 = 8.7379, p = 0.0031:
    # suspicious, but above GrowthBook's 0.001 threshold, so not flagged.
    res = srm_check([5000, 5300], [0.5, 0.5])
    assert res.chi2 == pytest.approx(8.737864, abs=1e-5)
    assert res.p_value == pytest.approx(0.0031167, abs=1e-6)
    assert not res.mismatch
    # 5,000 vs 5,500: chi2 = 2 * 250^2 / 5250 = 23.81, p = 1.06e-6: flagged.
    res = srm_check([5000, 5500], [0.5, 0.5])
    assert res.chi2 == pytest.approx(23.809524, abs=1e-5) and res.p_value == pytest.approx(1.0635e-6, rel=1e-3)
    assert res.mismatch
    # Three arms at 20/30/50, exactly as planned: no mismatch at all.
    res = srm_check([2000, 3000, 5000], [0.2, 0.3, 0.5])
    assert res.chi2 == pytest.approx(0.0) and res.p_value == pytest.approx(1.0) and not res.mismatch
    assert srm_check([1000, 1000, 1200], [1, 1, 1]).p_value == pytest.approx(
        scipy_stats.chisquare([1000, 1000, 1200]).pvalue
    )


def test_sequential_p_value_is_more_conservative_than_the_fixed_one() -> None:
    fixed = compare_rates((200, 1000), (250, 1000))
    seq = sequential_compare((200, 1000), (250, 1000), tuning_n=2000)
    assert seq.p_value > fixed.p_value
    assert seq.ci[0] < fixed.relative_ci[0] and seq.ci[1] > fixed.relative_ci[1]
    # Worked: rho^2 = (-2 ln .05 + ln(-2 ln .05 + 1)) / 2000;
    # e = exp(rho^2 n z^2 / (2(n rho^2 + 1))) / sqrt(n rho^2 + 1), p = min(1, 1 / e).
    rho2 = mixture_rho(0.05, 2000) ** 2
    z2 = (0.25 / fixed.relative_se) ** 2
    e = math.exp(rho2 * 2000 * z2 / (2 * (2000 * rho2 + 1))) / math.sqrt(2000 * rho2 + 1)
    assert seq.p_value == pytest.approx(min(1.0, 1 / e))


@pytest.mark.parametrize("z", [0.5, 1.5, 2.5, 3.0, 3.5, 4.5])
def test_sequential_interval_excludes_zero_exactly_when_the_p_value_is_below_alpha(z: float) -> None:
    res = sequential_test(estimate=z * 0.01, se=0.01, n_total=10_000, alpha=0.05, tuning_n=10_000)
    assert (res.p_value < 0.05) == (res.ci[0] > 0)


def test_sequential_test_without_data_says_nothing() -> None:
    assert sequential_test(0.1, 0.0, 0).p_value == 1.0
    assert sequential_compare((0, 0), (0, 0)).p_value == 1.0


@pytest.mark.parametrize(
    ("control", "treatment", "field"),
    [((5, 3), (1, 10), "control"), ((1, 10), (-1, 10), "treatment")],
)
def test_impossible_counts_name_the_field(control: tuple[int, int], treatment: tuple[int, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        compare_rates(control, treatment)
    assert err.value.field == field


def test_bad_plans_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        sample_size_per_arm(0.0, 0.1)
    assert err.value.field == "baseline"
    with pytest.raises(InvalidArgument) as err:
        sample_size_per_arm(0.5, 1.5)  # the treatment rate would be 1.25
    assert err.value.field == "mde"
    with pytest.raises(InvalidArgument) as err:
        srm_check([10, 10], [0.5, 0.0])
    assert err.value.field == "weights"
