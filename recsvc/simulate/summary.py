"""The simulator's JSON: per policy retention and funnel rates, the global control group's lift,
the service's own view of its sends (attribution) and the experiment report.

Retention at day N is the share of all simulated users who opened the app at least once in the
seven days ending on day N (days 1-7 for N=7, 22-28 for N=28); null when the run is shorter.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from recsvc.experiments.cuped import CovariateSums, cuped
from recsvc.outcomes import GLOBAL_EXPERIMENT
from recsvc.report.analysis import judge_all
from recsvc.report.data import report_data_from_frames
from recsvc.settings import Settings
from recsvc.simulate.response import Population

if TYPE_CHECKING:
    from recsvc.simulate.run import PolicyRun, SimConfig
    from recsvc.simulate.service import SimService

RETENTION_DAYS: tuple[int, ...] = (7, 28)
WINDOW = 7


def retention(active: np.ndarray, day: int, users: np.ndarray | None = None) -> float | None:
    """Share of ``users`` (all by default) active in the ``WINDOW`` days ending on day ``day`` (1-based)."""
    if day > active.shape[0]:
        return None
    window = active[max(0, day - WINDOW) : day]
    if users is not None:
        window = window[:, users]
    return float(window.any(axis=0).mean()) if window.shape[1] else None


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def policy_summary(run: PolicyRun) -> dict[str, Any]:
    t = run.tally
    out: dict[str, Any] = {f"retention_d{n}": retention(run.state.active, n) for n in RETENTION_DAYS}
    out["daily_active_rate"] = [round(float(x), 4) for x in run.state.active.mean(axis=1)]
    out.update(
        sends=t.sends,
        delivered=t.delivered,
        opens=t.opened,
        clicks=t.clicked,
        conversions=t.converted,
        unsubscribes=t.unsubscribed,
        open_rate=_rate(t.opened, t.sends),
        click_rate=_rate(t.clicked, t.sends),
        conversion_rate=_rate(t.converted, t.sends),
        unsubscribe_rate=_rate(t.unsubscribed, t.sends),
        sends_per_user_day=_rate(t.sends, run.state.active.size),
        unsubscribed_users=int(run.state.unsubscribed.sum()),
    )
    if run.variant_sends:
        out["variant_sends"] = dict(sorted(run.variant_sends.items()))
    return out


def service_view(svc: SimService, settings: Settings, end: datetime) -> dict[str, Any]:
    """What the service itself recorded: its attributed funnel, retention of pushed against held-out
    users (``GetOutcomes``' rows) and the experiment report."""
    log = svc.engine.outcomes
    sends, feedback = log.report_frames(0.0)
    data = report_data_from_frames(sends, feedback)
    verdicts = judge_all(data, settings.experiments)
    return {
        "service_funnel": dataclasses.asdict(data.funnel),
        "service_retention": [
            dataclasses.asdict(r) | {"rate": r.rate} for r in log.retention(GLOBAL_EXPERIMENT, end, days=(1, 7, 14, 21))
        ],
        "experiment_report": [dataclasses.asdict(v) for v in verdicts],
        "arms": [dataclasses.asdict(a) for a in data.arms],
    }


def retained(active: np.ndarray, day: int) -> np.ndarray:
    """Per user, 1.0 when active in the ``WINDOW`` days ending on day ``day`` (``day`` <= the run's days)."""
    return np.asarray(active[max(0, day - WINDOW) : day].any(axis=0), dtype=float)


def _control(run: PolicyRun, pre_period: np.ndarray, unpushed: PolicyRun | None) -> dict[str, Any] | None:
    """Retention of the users recsvc pushed against its global control group: raw, adjusted by CUPED
    on each user's pre-period activity (a control group of ~100 users differs from the rest by
    chance), and, where the ``none`` policy ran, against the same users never pushed (a check only a
    simulator can make: the control group's users are the same in both runs)."""
    held = run.extra.get("held_out_users")
    if held is None or held.sum() < 2:
        return None
    control, pushed = np.flatnonzero(held), np.flatnonzero(~held)
    out: dict[str, Any] = {"control_users": len(control), "pushed_users": len(pushed)}
    for n in RETENTION_DAYS:
        c, p = retention(run.state.active, n, control), retention(run.state.active, n, pushed)
        out[f"control_retention_d{n}"] = c
        out[f"pushed_retention_d{n}"] = p
        if c is None or p is None:
            out[f"incremental_retention_d{n}_points"] = None
            continue
        out[f"incremental_retention_d{n}_points"] = round(100 * (p - c), 2)
        y = retained(run.state.active, n)
        adj = cuped(
            [CovariateSums.of(y[control], pre_period[control]), CovariateSums.of(y[pushed], pre_period[pushed])]
        )
        out[f"cuped_incremental_retention_d{n}_points"] = round(100 * adj.absolute_lift, 2)
        out[f"cuped_incremental_retention_d{n}_ci_points"] = [round(100 * v, 2) for v in adj.absolute_ci]
        out[f"cuped_variance_reduction_d{n}"] = round(adj.variance_reduction, 3)
        if unpushed is not None:
            never = retention(unpushed.state.active, n, pushed)
            out[f"pushed_users_if_never_pushed_retention_d{n}"] = never
            out[f"counterfactual_incremental_retention_d{n}_points"] = (
                None if never is None else round(100 * (p - never), 2)
            )
    return out


def build(
    cfg: SimConfig,
    pop: Population,
    runs: list[PolicyRun],
    *,
    popular_item: str,
    start: datetime,
    pre_period: np.ndarray,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "config": dataclasses.asdict(cfg) | {"start": start.isoformat()},
        "response_model": {
            "variant_appeal": dict(pop.appeal),
            "doc": "recsvc.simulate.response (README: Simulator)",
        },
        "batch_and_blast_item": popular_item,
        "policies": {r.name: policy_summary(r) for r in runs},
    }
    for r in runs:
        if r.name != "recsvc":
            continue
        extra = {k: v for k, v in r.extra.items() if k != "held_out_users"}
        out["recsvc"] = extra
        unpushed = next((x for x in runs if x.name == "none"), None)
        out["global_control"] = _control(r, pre_period, unpushed)
    return out
