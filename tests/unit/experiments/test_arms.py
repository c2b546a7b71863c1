"""Arm names mean what their decision acts on; names a decision cannot act on are refused by field."""

from __future__ import annotations

import pytest

from recsvc.errors import InvalidArgument
from recsvc.experiments.arms import fixed_hour
from recsvc.experiments.definitions import Arm, Experiment


@pytest.mark.parametrize(
    ("arm", "hour"),
    [("fixed_9", 9), ("fixed_09", 9), ("fixed_21", 21), ("fixed_9am", 9), ("fixed_9pm", 21), ("fixed_12am", 0),
     ("fixed_12pm", 12), ("fixed_0", 0), ("fixed_24", None), ("fixed_13pm", None), ("fixed_0am", None),
     ("model", None), ("fixed_", None), ("fixed_9 ", None)],
)  # fmt: skip
def test_fixed_hours(arm: str, hour: int | None) -> None:
    assert fixed_hour(arm) == hour


def _exp(decision: str, *names: str, mode: str = "split") -> Experiment:
    arms = tuple(Arm(n, 1.0 / len(names)) for n in names)
    return Experiment(id="e", decision=decision, arms=arms, primary_metric="click_rate", mode=mode)


@pytest.mark.parametrize(
    ("decision", "names"),
    [
        ("copy_writer", ("llm", "template")),
        ("copy_variant", ("short", "emoji", "urgent")),
        ("send_time_policy", ("model", "fixed_9am", "fixed_20")),
        ("recs_source", ("model", "popular")),
        ("channel_policy", ("model", "sms", "email")),
        ("holdout", ("pushed", "holdout")),
    ],
)
def test_arms_each_decision_can_act_on(decision: str, names: tuple[str, ...]) -> None:
    _exp(decision, *names).validate()


@pytest.mark.parametrize(
    ("exp", "field"),
    [
        (_exp("copy_writer", "llm", "gpt"), "experiment.arms[1].name"),
        (_exp("send_time_policy", "model", "fixed_25"), "experiment.arms[1].name"),
        (_exp("send_time_policy", "nine"), "experiment.arms[0].name"),
        (_exp("recs_source", "model", "trending"), "experiment.arms[1].name"),
        (_exp("channel_policy", "model", "pigeon"), "experiment.arms[1].name"),
        (_exp("holdout", "a", "b"), "experiment.arms"),
        (_exp("recs_source", "model", "popular", mode="optimize"), "experiment.mode"),
        (_exp("holdout", "pushed", "holdout", mode="optimize"), "experiment.mode"),
    ],
)
def test_arms_a_decision_cannot_act_on_name_the_field(exp: Experiment, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        exp.validate()
    assert err.value.field == field
