"""Experiment definitions: each bad field is named, in code and in the settings file's [[experiments]]."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recsvc.errors import InvalidArgument
from recsvc.experiments.definitions import Arm, Experiment, check_metric, experiment_by_id, experiments_from_settings
from recsvc.settings import load_settings


def _raw(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "copy-test",
        "decision": "copy_variant",
        "arms": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
        "primary_metric": "click_rate",
        "guardrail_metrics": ["unsubscribe_rate"],
    }
    raw.update(over)
    return raw


def _field_of(raw: Any) -> str | None:
    with pytest.raises(InvalidArgument) as err:
        experiments_from_settings(raw)
    assert err.value.field is not None and err.value.field in str(err.value)
    return err.value.field


def test_a_good_experiment_reads_back() -> None:
    (exp,) = experiments_from_settings([_raw(start="2026-12-01T00:00:00", stop="2026-12-15", mode="optimize")])
    assert exp.arm_names() == ("a", "b") and exp.weights == (0.5, 0.5)
    assert exp.start == datetime(2026, 12, 1, tzinfo=UTC) and exp.mode == "optimize"
    assert exp.running_at(datetime(2026, 12, 5, tzinfo=UTC)) and not exp.running_at(datetime(2026, 12, 20, tzinfo=UTC))


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"decision": "colour"}, "experiments[0].decision"),
        ({"primary_metric": "likes"}, "experiments[0].primary_metric"),
        ({"guardrail_metrics": ["unsubscribe_rate", "nope"]}, "experiments[0].guardrail_metrics[1]"),
        ({"arms": []}, "experiments[0].arms"),
        ({"arms": [{"name": "a", "weight": 0.5}, {"name": "a", "weight": 0.5}]}, "experiments[0].arms[1].name"),
        ({"arms": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.4}]}, "experiments[0].arms[1].weight"),
        ({"arms": [{"name": "a", "weight": "half"}, {"name": "b", "weight": 0.5}]}, "experiments[0].arms[0].weight"),
        ({"arms": [{"name": "a", "weight": 1.0, "colour": 1}]}, "experiments[0].arms[0].colour"),
        ({"start": "2026-12-10", "stop": "2026-12-01"}, "experiments[0].stop"),
        ({"start": "next week"}, "experiments[0].start"),
        ({"mode": "greedy"}, "experiments[0].mode"),
        ({"segment": "height>2"}, "experiments[0].segment"),
        ({"id": ""}, "experiments[0].id"),
        ({"owner": "me"}, "experiments[0].owner"),
    ],
)
def test_bad_fields_are_named(over: dict[str, Any], field: str) -> None:
    assert _field_of([_raw(**over)]) == field


def test_missing_required_field_is_named() -> None:
    raw = _raw()
    del raw["primary_metric"]
    assert _field_of([raw]) == "experiments[0].primary_metric"


def test_duplicate_ids_and_bad_shapes() -> None:
    assert _field_of([_raw(), _raw()]) == "experiments[1].id"
    assert _field_of({"id": "x"}) == "experiments"
    assert _field_of(["x"]) == "experiments[0]"


def test_validate_names_fields_in_code_too() -> None:
    exp = Experiment(id="e", decision="holdout", arms=(Arm("on", 0.9), Arm("off", 0.2)), primary_metric="send")
    with pytest.raises(InvalidArgument) as err:
        exp.validate("experiment")
    assert err.value.field == "experiment.arms[1].weight"


def test_settings_file_declares_experiments(tmp_path: Path) -> None:
    cfg = tmp_path / "recsvc.toml"
    cfg.write_text(
        """
[server]
port = 0

[[experiments]]
id = "sendtime-vs-9am"
decision = "send_time_policy"
primary_metric = "open_rate"
guardrail_metrics = ["unsubscribe_rate"]
segment = "tier in high,medium"
start = 2026-12-01T00:00:00Z
arms = [{ name = "model", weight = 0.5 }, { name = "fixed_9am", weight = 0.5 }]

[[experiments]]
id = "holdout"
decision = "holdout"
primary_metric = "conversion_rate"
arms = [{ name = "pushed", weight = 0.95 }, { name = "holdout", weight = 0.05 }]
""",
        encoding="utf-8",
    )
    settings = load_settings(cfg, env={})
    assert [e.id for e in settings.experiments] == ["sendtime-vs-9am", "holdout"]
    assert settings.experiments[0].start == datetime(2026, 12, 1, tzinfo=UTC)
    assert load_settings(None, env={}).experiments == ()


def test_settings_file_with_bad_weights_names_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "recsvc.toml"
    cfg.write_text(
        """
[[experiments]]
id = "x"
decision = "copy_writer"
primary_metric = "click_rate"
arms = [{ name = "llm", weight = 0.7 }, { name = "template", weight = 0.7 }]
""",
        encoding="utf-8",
    )
    with pytest.raises(InvalidArgument) as err:
        load_settings(cfg, env={})
    assert err.value.field == "experiments[0].arms[1].weight"


def test_lookups_name_the_field() -> None:
    exps = experiments_from_settings([_raw()])
    assert experiment_by_id(exps, "copy-test") is exps[0]
    with pytest.raises(InvalidArgument) as err:
        experiment_by_id(exps, "nope")
    assert err.value.field == "experiment_id" and "copy-test" in str(err.value)
    assert check_metric("open_rate") == "open_rate"
    with pytest.raises(InvalidArgument) as err:
        check_metric("likes", field="metrics[2]")
    assert err.value.field == "metrics[2]"


def test_bandit_and_global_control_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "recsvc.toml"
    cfg.write_text("[global_control]\nshare = 0.05\n\n[bandit]\nfloor = 0.2\nreset_on_variant_change = false\n")
    s = load_settings(cfg, env={"RECSVC_BANDIT_PRIOR_BETA": "9"})
    assert s.global_control.share == 0.05 and s.global_control.salt == "global-control"
    assert (s.bandit.floor, s.bandit.prior_beta, s.bandit.reset_on_variant_change) == (0.2, 9.0, False)
    for text, field in (
        ("[global_control]\nshare = 1.5\n", "global_control.share"),
        ("[bandit]\nfloor = -1\n", "bandit.floor"),
    ):
        cfg.write_text(text)
        with pytest.raises(InvalidArgument) as err:
            load_settings(cfg, env={})
        assert err.value.field == field
