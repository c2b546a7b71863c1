from __future__ import annotations

import pytest

from recsvc.experiments import stats
from recsvc.experiments.definitions import Arm, Experiment
from recsvc.report.analysis import judge_experiment
from recsvc.report.data import ArmTotals


def _arm(name: str, sends: int, clicks: int, opens: int = 0) -> ArmTotals:
    return ArmTotals("e1", name, sends, sends, opens, clicks, 0, 0.0, 0)


def test_control_comes_first_and_each_arm_is_compared_with_it() -> None:
    v = judge_experiment("e1", [_arm("b", 1000, 60), _arm("control", 1000, 50)])
    assert v.control == "control" and v.metric == "click_rate"
    assert [a.arm for a in v.arms] == ["control", "b"]
    assert v.arms[0].comparison is None
    expected = stats.compare_rates((50, 1000), (60, 1000))
    assert v.arms[1].comparison == expected
    assert v.arms[1].comparison.relative_lift == pytest.approx(0.2)
    assert v.arms[1].sequential == stats.sequential_compare((50, 1000), (60, 1000))
    assert v.weights == (1.0, 1.0)


def test_declared_experiment_sets_control_metric_and_planned_weights() -> None:
    declared = Experiment(
        id="e1", decision="copy_variant", arms=(Arm("base", 0.8), Arm("new", 0.2)), primary_metric="open_rate"
    )
    v = judge_experiment("e1", [_arm("new", 500, 5, opens=40), _arm("base", 2000, 20, opens=100)], declared)
    assert (v.control, v.metric, v.weights) == ("base", "open_rate", (0.8, 0.2))
    assert v.arms[1].comparison == stats.compare_rates((100, 2000), (40, 500))
    assert not v.srm.mismatch  # 2000/500 is exactly 80/20


def test_sample_ratio_mismatch_is_flagged_against_equal_weights() -> None:
    # 10,400 vs 9,600 planned 50/50: chi2 = 32, far below the 0.001 threshold.
    v = judge_experiment("e1", [_arm("control", 10_400, 500), _arm("b", 9_600, 480)])
    assert v.srm.chi2 == pytest.approx(32.0)
    assert v.srm.mismatch
