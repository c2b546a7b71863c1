"""What an experiment is: the decision it varies, its arms and weights, who is eligible, how it is judged.

Experiments come from the ``[[experiments]]`` tables of the settings file (or from the API), so
every check names the field the way the file spells it, e.g. ``experiments[0].arms[1].weight``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from recsvc.batch.segment import Segment
from recsvc.errors import InvalidArgument
from recsvc.experiments.arms import check_arms
from recsvc.vocabulary import EXPERIMENT_DECISIONS, EXPERIMENT_METRICS, EXPERIMENT_MODES

WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float


@dataclass(frozen=True)
class Experiment:
    """One experiment; :meth:`validate` raises ``InvalidArgument`` naming the first bad field."""

    id: str
    decision: str
    arms: tuple[Arm, ...]
    primary_metric: str
    guardrail_metrics: tuple[str, ...] = ()
    segment: str = "all"  # who is eligible, in the batch segment syntax (``stage=churning and tier!=dormant``)
    start: datetime | None = None
    stop: datetime | None = None
    mode: str = "split"  # "optimize": a bandit moves traffic toward the best arm
    salt: str = ""  # a new salt reshuffles who gets which arm without renaming the experiment

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(a.weight for a in self.arms)

    @property
    def seed(self) -> str:
        """What the assignment hash is seeded with: the id, and the salt when there is one."""
        return f"{self.id}:{self.salt}" if self.salt else self.id

    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    def running_at(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.stop is None or when < self.stop)

    def validate(self, where: str = "experiment") -> None:
        def fail(name: str, says: str) -> None:
            raise InvalidArgument(f"{where}.{name} {says}", field=f"{where}.{name}")

        if not self.id.strip():
            fail("id", "must not be empty")
        if self.decision not in EXPERIMENT_DECISIONS:
            fail("decision", f"must be one of {EXPERIMENT_DECISIONS}, got {self.decision!r}")
        if self.mode not in EXPERIMENT_MODES:
            fail("mode", f"must be one of {EXPERIMENT_MODES}, got {self.mode!r}")
        guards = [(f"guardrail_metrics[{i}]", m) for i, m in enumerate(self.guardrail_metrics)]
        for name, metric in [("primary_metric", self.primary_metric), *guards]:
            if metric not in EXPERIMENT_METRICS:
                fail(name, f"is not a metric: {metric!r}; known: {', '.join(EXPERIMENT_METRICS)}")
        self._validate_arms(fail, where)
        check_arms(self.decision, self.mode, self.arm_names(), where)
        try:
            Segment.parse(self.segment)
        except InvalidArgument as exc:
            fail("segment", f"cannot be read: {exc.message}")
        if self.start is not None and self.stop is not None and self.stop <= self.start:
            fail("stop", f"must be after start ({self.start.isoformat()}), got {self.stop.isoformat()}")

    def _validate_arms(self, fail: Any, where: str) -> None:
        if not self.arms:
            fail("arms", "must not be empty")
        seen: set[str] = set()
        for i, arm in enumerate(self.arms):
            if not arm.name.strip():
                fail(f"arms[{i}].name", "must not be empty")
            if arm.name in seen:
                fail(f"arms[{i}].name", f"repeats the arm name {arm.name!r}")
            seen.add(arm.name)
        check_weights(self.weights, f"{where}.arms")

    def eligible(self, user: Mapping[str, Any]) -> bool:
        """Whether a user (the engine's row: stage, tier, city, locale, churn_risk) is in the segment."""
        return Segment.parse(self.segment).holds(dict(user))


def check_weights(weights: Sequence[float], field: str = "arms") -> None:
    """Weights must each be > 0 and sum to 1 (within 1e-6); the error names ``{field}[i].weight``."""
    if not weights:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    for i, w in enumerate(weights):
        if not (math.isfinite(w) and w > 0):
            raise InvalidArgument(f"{field}[{i}].weight must be > 0, got {w}", field=f"{field}[{i}].weight")
    total = math.fsum(weights)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        last = len(weights) - 1
        raise InvalidArgument(
            f"{field}[{last}].weight makes the weights sum to {total:g}; they must sum to 1",
            field=f"{field}[{last}].weight",
        )


# ---- reading from settings ------------------------------------------------------------------
_FIELDS = ("id", "decision", "arms", "primary_metric", "guardrail_metrics", "segment", "start", "stop", "mode", "salt")


def _time(value: Any, field: str) -> datetime | None:
    """A TOML datetime, a date, or an ISO 8601 string; a time without a zone is UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, date):
        out = datetime(value.year, value.month, value.day)
    else:
        try:
            out = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidArgument(f"{field}: not a date-time: {value!r}", field=field) from None
    return out if out.tzinfo is not None else out.replace(tzinfo=UTC)


def _text(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise InvalidArgument(f"{where}.{key} is required", field=f"{where}.{key}")
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}.{key} must be a string, got {value!r}", field=f"{where}.{key}")
    return value


def _arm(raw: Any, where: str) -> Arm:
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"{where} must be a table with name and weight", field=where)
    unknown = sorted(set(raw) - {"name", "weight"})
    if unknown:
        raise InvalidArgument(f"unknown setting {where}.{unknown[0]}", field=f"{where}.{unknown[0]}")
    weight = raw.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise InvalidArgument(f"{where}.weight must be a number, got {weight!r}", field=f"{where}.weight")
    return Arm(_text(raw, "name", where), float(weight))


def experiment_from_mapping(raw: Any, where: str) -> Experiment:
    """Build and validate one experiment from a TOML table (or the API's equivalent mapping)."""
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"{where} must be a table", field=where)
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise InvalidArgument(f"unknown setting {where}.{unknown[0]}", field=f"{where}.{unknown[0]}")
    arms = raw.get("arms", [])
    if not isinstance(arms, Sequence) or isinstance(arms, str):
        raise InvalidArgument(f"{where}.arms must be an array of tables", field=f"{where}.arms")
    guards = raw.get("guardrail_metrics", [])
    if isinstance(guards, str) or not isinstance(guards, Sequence) or not all(isinstance(g, str) for g in guards):
        raise InvalidArgument(
            f"{where}.guardrail_metrics must be a list of metric names", field=f"{where}.guardrail_metrics"
        )
    exp = Experiment(
        id=_text(raw, "id", where),
        decision=_text(raw, "decision", where),
        arms=tuple(_arm(a, f"{where}.arms[{i}]") for i, a in enumerate(arms)),
        primary_metric=_text(raw, "primary_metric", where),
        guardrail_metrics=tuple(guards),
        segment=_text(raw, "segment", where, "all"),
        start=_time(raw.get("start"), f"{where}.start"),
        stop=_time(raw.get("stop"), f"{where}.stop"),
        mode=_text(raw, "mode", where, "split"),
        salt=_text(raw, "salt", where, ""),
    )
    exp.validate(where)
    return exp


def experiment_to_mapping(exp: Experiment) -> dict[str, Any]:
    """The experiment as :func:`experiment_from_mapping` reads it back (times as ISO 8601)."""
    return {
        "id": exp.id,
        "decision": exp.decision,
        "arms": [{"name": a.name, "weight": a.weight} for a in exp.arms],
        "primary_metric": exp.primary_metric,
        "guardrail_metrics": list(exp.guardrail_metrics),
        "segment": exp.segment,
        "start": exp.start.isoformat() if exp.start is not None else None,
        "stop": exp.stop.isoformat() if exp.stop is not None else None,
        "mode": exp.mode,
        "salt": exp.salt,
    }


def experiments_from_settings(raw: Any) -> tuple[Experiment, ...]:
    """The ``[[experiments]]`` array: each validated, ids unique."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping | str) or not isinstance(raw, Sequence):
        raise InvalidArgument("experiments must be an array of tables ([[experiments]])", field="experiments")
    out = tuple(experiment_from_mapping(e, f"experiments[{i}]") for i, e in enumerate(raw))
    validate_experiments(out)
    return out


def validate_experiments(experiments: Sequence[Experiment]) -> None:
    seen: set[str] = set()
    for i, exp in enumerate(experiments):
        exp.validate(f"experiments[{i}]")
        if exp.id in seen:
            raise InvalidArgument(f"experiments[{i}].id repeats the id {exp.id!r}", field=f"experiments[{i}].id")
        seen.add(exp.id)


def experiment_by_id(experiments: Sequence[Experiment], experiment_id: str, field: str = "experiment_id") -> Experiment:
    """The experiment with that id; an unknown id is ``InvalidArgument`` naming ``field`` and the known ids."""
    for exp in experiments:
        if exp.id == experiment_id:
            return exp
    known = ", ".join(e.id for e in experiments) or "none declared"
    raise InvalidArgument(f"{field}: unknown experiment {experiment_id!r}; known: {known}", field=field)


def check_metric(name: str, field: str = "metric") -> str:
    """``name`` if it is a metric; otherwise ``InvalidArgument`` naming ``field`` and the metrics."""
    if name not in EXPERIMENT_METRICS:
        raise InvalidArgument(f"{field}: unknown metric {name!r}; known: {', '.join(EXPERIMENT_METRICS)}", field=field)
    return name
