"""Treatments: the global control group first, one experiment per user among those running and
eligible, sticky arms, what each arm changes, and bandits that choose late and learn from clicks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from recsvc.engine.experiment_step import ExperimentStep, Treatment, bandit_context
from recsvc.experiments.assignment import GlobalControl
from recsvc.experiments.bandit import MemoryBanditState, variant_set_key
from recsvc.experiments.config import BanditConfig
from recsvc.experiments.definitions import Arm, Experiment

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
ROW = {"stage": "interest", "tier": "high", "city": "Shanghai", "locale": "zh-CN", "churn_risk": 0.2}


def _exp(id_: str, decision: str, *names: str, **kw: object) -> Experiment:
    arms = tuple(Arm(n, 1.0 / len(names)) for n in names)
    return Experiment(id=id_, decision=decision, arms=arms, primary_metric="click_rate", **kw)  # type: ignore[arg-type]


def _step(*exps: Experiment, share: float = 0.0, state: MemoryBanditState | None = None) -> ExperimentStep:
    control = GlobalControl(share=share)
    return ExperimentStep(lambda: (exps, control), state or MemoryBanditState(), BanditConfig(floor=0.0), seed=1)


def test_the_global_control_group_is_held_out_before_any_experiment() -> None:
    step = _step(_exp("e", "copy_variant", "a", "b"), share=0.1)
    ts = [step.treatment(f"u{i}", ROW, NOW) for i in range(5000)]
    held = [t for t in ts if t.global_control]
    assert 0.08 < len(held) / len(ts) < 0.12
    assert all(t.held_out and t.experiment is None for t in held)
    assert all(not t.held_out and t.arm in ("a", "b") for t in ts if not t.global_control)
    exposures = held[0].exposures("u", NOW)
    assert [(e.experiment, e.arm, e.held_out) for e in exposures] == [("", "global_control", True)]
    pushed = next(t for t in ts if not t.global_control).exposures("u", NOW)
    assert [(e.experiment, e.arm, e.held_out) for e in pushed] == [("", "pushed", False), ("e", pushed[1].arm, False)]


def test_each_user_is_in_one_experiment_split_evenly_and_sticky() -> None:
    step = _step(_exp("e1", "copy_variant", "a", "b"), _exp("e2", "recs_source", "model", "popular"))
    ts = {f"u{i}": step.treatment(f"u{i}", ROW, NOW) for i in range(4000)}
    per_exp = Counter(t.experiment_id for t in ts.values())
    assert abs(per_exp["e1"] - per_exp["e2"]) < 300
    assert all(step.treatment(u, ROW, NOW) == t for u, t in list(ts.items())[:200])
    arms = Counter(t.arm for t in ts.values() if t.experiment_id == "e2")
    assert abs(arms["model"] - arms["popular"]) < 250
    assert {t.recs_policy for t in ts.values() if t.arm == "popular"} == {"popular"}
    assert {t.recs_policy for t in ts.values() if t.experiment_id == "e1"} == {"model"}
    assert not any(t.exposures("u", NOW)[0].experiment == "" for t in ts.values())  # no control group configured


def test_segment_and_schedule_decide_who_takes_part() -> None:
    churners = _exp("e", "copy_variant", "a", "b", segment="stage=churning")
    later = _exp("f", "copy_variant", "a", "b", start=datetime(2027, 1, 1, tzinfo=UTC))
    step = _step(churners, later)
    assert step.treatment("u1", ROW, NOW) == Treatment()
    assert step.treatment("u1", {**ROW, "stage": "churning"}, NOW).experiment_id == "e"


@pytest.mark.parametrize(
    ("decision", "arm", "attribute", "value"),
    [
        ("send_time_policy", "fixed_9pm", "send_hour", 21),
        ("send_time_policy", "model", "send_hour", None),
        ("channel_policy", "sms", "channel", "sms"),
        ("channel_policy", "model", "channel", None),
        ("copy_writer", "template", "writer", "template"),
        ("copy_variant", "urgent", "variant", "urgent"),
        ("holdout", "holdout", "held_out", True),
        ("holdout", "pushed", "held_out", False),
    ],
)
def test_what_each_arm_changes(decision: str, arm: str, attribute: str, value: object) -> None:
    t = Treatment(_exp("e", decision, arm), arm)
    assert getattr(t, attribute) == value
    assert Treatment().send_hour is None and Treatment().channel is None and Treatment().recs_policy == "model"


def test_an_optimize_bandit_chooses_late_and_learns_from_first_clicks() -> None:
    state = MemoryBanditState()
    exp = _exp("opt", "copy_variant", "a", "b", mode="optimize")
    step = _step(exp, state=state)
    t = step.treatment("u1", ROW, NOW)
    assert t.experiment_id == "opt" and t.arm == ""
    kw = {"stage": "interest", "trigger": "scheduled", "channel": "app_push", "locale": "zh-Hans-CN"}
    chosen = step.resolve(t, **kw)
    assert chosen.arm in ("a", "b")
    assert step.resolve(chosen, **kw) is chosen
    step.booked(chosen, **kw)
    context = bandit_context("opt", "interest", "scheduled", "app_push", "zh-CN")
    key = variant_set_key(("a", "b"))
    assert state.params(context, key)[chosen.arm] == (1.0, 2.0)  # one trial, no click yet
    send = {"experiment": "opt", "arm": chosen.arm, "stage": "interest", "send_trigger": "scheduled"}
    send |= {"channel": "app_push", "locale": "zh-CN"}
    assert step.learn([send, {**send, "experiment": "other"}, {**send, "arm": "gone"}]) == 1
    assert state.params(context, key)[chosen.arm] == (2.0, 1.0)


def test_the_bandit_moves_traffic_to_the_arm_that_gets_clicked() -> None:
    state = MemoryBanditState()
    step = _step(_exp("opt", "copy_variant", "a", "b", mode="optimize"), state=state)
    kw = {"stage": "interest", "trigger": "scheduled", "channel": "app_push", "locale": "en-US"}
    picks: Counter[str] = Counter()
    for i in range(600):
        t = step.resolve(step.treatment(f"u{i}", ROW, NOW), **kw)
        step.booked(t, **kw)
        picks[t.arm] += i >= 400
        if t.arm == "b" and i % 3 == 0:  # b is clicked a third of the time, a never
            send = {"experiment": "opt", "arm": "b", "stage": "interest", "send_trigger": "scheduled"}
            step.learn([{**send, "channel": "app_push", "locale": "en-US"}])
    assert picks["b"] / 200 > 0.9
