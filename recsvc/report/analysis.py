"""Each experiment's verdict: per-arm rates, lift against control with intervals, mSPRT, SRM.

All the statistics come from :mod:`recsvc.experiments.stats`; this module only picks the control
arm, the metric and the planned weights, and lays the results out for the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recsvc.experiments import stats
from recsvc.experiments.definitions import Experiment
from recsvc.report.data import ArmTotals, ReportData

# The rates the report can judge an experiment on (a numerator over sends).
REPORT_METRICS: tuple[str, ...] = ("open_rate", "click_rate", "conversion_rate")
DEFAULT_METRIC = "click_rate"
CONTROL_NAMES: tuple[str, ...] = ("control", "holdout", "a", "baseline")


@dataclass(frozen=True)
class ArmVerdict:
    arm: str
    rate: stats.Rate
    comparison: stats.Comparison | None  # None for the control arm
    sequential: stats.SequentialResult | None


@dataclass(frozen=True)
class ExperimentVerdict:
    experiment: str
    metric: str
    control: str
    arms: tuple[ArmVerdict, ...]
    srm: stats.SrmResult
    weights: tuple[float, ...]  # planned, in the order of ``arms``; equal when the experiment is not declared


def _control_arm(names: Sequence[str], declared: Experiment | None) -> str:
    """An arm named like a control, else the first arm the settings declare, else the first by name."""
    for candidate in CONTROL_NAMES:
        if candidate in names:
            return candidate
    if declared is not None and declared.arms and declared.arms[0].name in names:
        return declared.arms[0].name
    return sorted(names)[0]


def _metric(declared: Experiment | None) -> str:
    if declared is not None and declared.primary_metric in REPORT_METRICS:
        return declared.primary_metric
    return DEFAULT_METRIC


def _weights(names: Sequence[str], declared: Experiment | None) -> tuple[float, ...]:
    planned = {a.name: a.weight for a in declared.arms} if declared is not None else {}
    if planned and all(n in planned and planned[n] > 0 for n in names):
        return tuple(planned[n] for n in names)
    return tuple(1.0 for _ in names)


def judge_experiment(
    experiment: str, arms: Sequence[ArmTotals], declared: Experiment | None = None, alpha: float = stats.DEFAULT_ALPHA
) -> ExperimentVerdict:
    """Control first, then the other arms in name order, each against control."""
    names = [a.arm for a in arms]
    control = _control_arm(names, declared)
    metric = _metric(declared)
    ordered = sorted(arms, key=lambda a: (a.arm != control, a.arm))
    base = next(a for a in ordered if a.arm == control)
    base_counts = (base.successes(metric), base.sends)
    verdicts = []
    for a in ordered:
        counts = (a.successes(metric), a.sends)
        if a.arm == control:
            verdicts.append(ArmVerdict(a.arm, stats.rate(*counts, alpha=alpha), None, None))
            continue
        verdicts.append(
            ArmVerdict(
                a.arm,
                stats.rate(*counts, alpha=alpha),
                stats.compare_rates(base_counts, counts, alpha),
                stats.sequential_compare(base_counts, counts, alpha),
            )
        )
    weights = _weights([a.arm for a in ordered], declared)
    srm = (
        stats.srm_check([a.sends for a in ordered], weights) if len(ordered) >= 2 else stats.SrmResult(0.0, 1.0, False)
    )
    return ExperimentVerdict(experiment, metric, control, tuple(verdicts), srm, weights)


def judge_all(
    data: ReportData, declared: Sequence[Experiment] = (), alpha: float = stats.DEFAULT_ALPHA
) -> tuple[ExperimentVerdict, ...]:
    by_id = {e.id: e for e in declared}
    return tuple(
        judge_experiment(exp, [a for a in data.arms if a.experiment == exp], by_id.get(exp), alpha)
        for exp in data.experiments()
    )
