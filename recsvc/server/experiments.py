"""CreateExperiment, ListExperiments and StopExperiment: protobuf to the experiments' own terms and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recsvc.experiments.definitions import Experiment, experiment_from_mapping
from recsvc.server import fields
from recsvc.server.responses import dt_to_ts
from recsvc.settings import Settings
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.vocabulary import EXPERIMENT_DECISIONS, EXPERIMENT_METRICS, EXPERIMENT_MODES, enum_value, word

FIELD = "experiment"


def _word(words: tuple[str, ...], value: int, default: str = "") -> str:
    return word(words, value) or default


def experiment_of(req: pb.CreateExperimentRequest, settings: Settings, now: datetime) -> Experiment:
    """The checked experiment: every wrong field is named as ``experiment.arms[1].weight`` etc."""
    e = req.experiment
    lim = settings.limits
    raw: dict[str, Any] = {
        "id": fields.text(e.id, f"{FIELD}.id", lim.max_id_len, required=True),
        "decision": _word(EXPERIMENT_DECISIONS, e.decision),
        "arms": [
            {"name": fields.text(a.name, f"{FIELD}.arms[{i}].name", lim.max_id_len), "weight": a.weight}
            for i, a in enumerate(e.arms)
        ],
        "primary_metric": _word(EXPERIMENT_METRICS, e.primary_metric),
        "guardrail_metrics": [_word(EXPERIMENT_METRICS, m) for m in e.guardrail_metrics],
        "segment": fields.text(e.segment, f"{FIELD}.segment", 1000) or "all",
        "start": fields.timestamp(e.start, f"{FIELD}.start", default=now) if e.HasField("start") else None,
        "stop": fields.timestamp(e.stop, f"{FIELD}.stop", default=now) if e.HasField("stop") else None,
        "mode": _word(EXPERIMENT_MODES, e.mode, "split") if e.mode else "split",
        "salt": fields.text(e.salt, f"{FIELD}.salt", lim.max_id_len),
    }
    if e.mode and word(EXPERIMENT_MODES, e.mode) is None:
        raw["mode"] = f"enum value {e.mode}"
    return experiment_from_mapping(raw, FIELD)


def experiment_pb(exp: Experiment, *, from_settings: bool, now: datetime) -> pb.Experiment:
    out = pb.Experiment(
        id=exp.id,
        decision=enum_value(EXPERIMENT_DECISIONS, exp.decision),  # type: ignore[arg-type]
        arms=[pb.ExperimentArm(name=a.name, weight=a.weight) for a in exp.arms],
        primary_metric=enum_value(EXPERIMENT_METRICS, exp.primary_metric),  # type: ignore[arg-type]
        guardrail_metrics=[enum_value(EXPERIMENT_METRICS, m) for m in exp.guardrail_metrics],  # type: ignore[misc]
        segment=exp.segment,
        mode=enum_value(EXPERIMENT_MODES, exp.mode),  # type: ignore[arg-type]
        salt=exp.salt,
        from_settings=from_settings,
        running=exp.running_at(now),
    )
    if exp.start is not None:
        out.start.CopyFrom(dt_to_ts(exp.start))
    if exp.stop is not None:
        out.stop.CopyFrom(dt_to_ts(exp.stop))
    return out
