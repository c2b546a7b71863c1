"""Deterministic, sticky assignment of users to arms, and the global control group.

A user's position in [0, 1) is a hash of the experiment's seed (id and salt) and the user id, so
every process, host and restart gives the same user the same arm without storing anything. The hash
is GrowthBook's "v2": FNV-1a 32-bit of the seed and user id, hashed again as decimal text (the second
round decorrelates experiments whose seeds differ only in the last characters), reduced to 1/10,000ths.
Arms take consecutive ranges of [0, 1) in proportion to their weights.

The global control group is a share of all users, chosen by a hash with its own salt, who are never
pushed; it is checked before any experiment, so no experiment ever assigns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.experiments.definitions import Experiment, check_weights

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_BUCKETS = 10_000

__all__ = ["Assignment", "GlobalControl", "arm_index", "assign", "check_weights", "fnv1a32", "unit_hash"]


def fnv1a32(text: str) -> int:
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def unit_hash(seed: str, user_id: str) -> float:
    """The user's position in [0, 1) for ``seed``: stable, and uniform over users."""
    return (fnv1a32(str(fnv1a32(seed + user_id))) % _BUCKETS) / _BUCKETS


def arm_index(position: float, weights: Sequence[float]) -> int:
    """The arm whose cumulative range holds ``position``; the last arm takes any rounding remainder."""
    edge = 0.0
    for i, w in enumerate(weights):
        edge += w
        if position < edge:
            return i
    return len(weights) - 1


@dataclass(frozen=True)
class GlobalControl:
    """``share`` of all users, by their hash under ``salt``, who receive no push at all."""

    share: float = 0.0
    salt: str = "global-control"

    def validate(self, field: str = "global_control") -> None:
        if not 0.0 <= self.share < 1.0:
            raise InvalidArgument(f"{field}.share must be in [0, 1), got {self.share}", field=f"{field}.share")
        if not self.salt:
            raise InvalidArgument(f"{field}.salt must not be empty", field=f"{field}.salt")

    def holds(self, user_id: str) -> bool:
        return self.share > 0 and unit_hash(self.salt, user_id) < self.share


@dataclass(frozen=True)
class Assignment:
    experiment_id: str
    arm: str | None  # None: the user is in the global control group, or not eligible
    global_control: bool = False


def assign(
    experiment: Experiment,
    user_id: str,
    control: GlobalControl | None = None,
    user: Mapping[str, Any] | None = None,
) -> Assignment:
    """The user's arm in ``experiment``; the global control group is checked first, then the segment
    (when ``user``, the engine's row for the user, is given)."""
    if control is not None and control.holds(user_id):
        return Assignment(experiment.id, None, global_control=True)
    if user is not None and not experiment.eligible(user):
        return Assignment(experiment.id, None)
    i = arm_index(unit_hash(experiment.seed, user_id), experiment.weights)
    return Assignment(experiment.id, experiment.arms[i].name)
