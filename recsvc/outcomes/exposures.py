"""Who an experiment (or the global control group) assigned, from when, and what became of them.

A send is only recorded when one is booked, so a held-out user, who is never pushed, leaves no send
behind. An exposure is recorded instead, for every user an experiment or the global control group
assigns at decision time (``Recommend`` with ``reserve=true``, the campaign), pushed or not: one row
per user and experiment, the first assignment kept. Retention compares the arms' users by what they
did after that first exposure, from the events the store already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recsvc.vocabulary import RETENTION_EVENT_TYPES

DAY_S = 86_400.0
RETENTION_DAYS: tuple[int, ...] = (1, 7, 30)

# The global control group's exposures are kept under this experiment id (arms: GLOBAL_CONTROL_ARMS).
GLOBAL_EXPERIMENT = ""

INSERT_EXPOSURE = (
    "INSERT INTO outcome_exposures (user_id, experiment, arm, held_out, first_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (user_id, experiment) DO NOTHING"
)


@dataclass(frozen=True)
class Exposure:
    user_id: str
    experiment: str  # GLOBAL_EXPERIMENT for the global control group's split
    arm: str
    held_out: bool  # the arm gets no push
    at: datetime

    def values(self) -> tuple[Any, ...]:
        return (self.user_id, self.experiment, self.arm, int(self.held_out), self.at.timestamp())


@dataclass(frozen=True)
class RetentionRow:
    """Of the ``users`` of ``arm`` whose day ``day`` after their first exposure has passed, ``active``
    came back that day (any event of ``RETENTION_EVENT_TYPES`` in ``[first + day, first + day + 1)``)."""

    experiment: str
    arm: str
    held_out: bool
    day: int
    users: int
    active: int

    @property
    def rate(self) -> float:
        return self.active / self.users if self.users else 0.0


def write_exposures(cur: Any, exposures: Sequence[Exposure]) -> None:
    """Record first exposures with a qmark cursor; a user already exposed to an experiment keeps the first."""
    for e in exposures:  # one or two per decision
        cur.execute(INSERT_EXPOSURE, e.values())


def retention_rows(
    cur: Any,
    experiment: str,
    now: datetime,
    days: Sequence[int] = RETENTION_DAYS,
    cohort: tuple[datetime, datetime] | None = None,
) -> list[RetentionRow]:
    """Day-N retention per arm of ``experiment`` (GLOBAL_EXPERIMENT: pushed against the global control
    group) as of ``now``: a user counts for day N once that whole day has passed. ``cohort``: only
    users first exposed in ``[since, until)``."""
    since, until = cohort or (datetime.fromtimestamp(0, UTC), now)
    kinds = ", ".join("?" * len(RETENTION_EVENT_TYPES))
    sql = (
        "SELECT x.arm, MAX(x.held_out), COUNT(*), SUM(CASE WHEN EXISTS ("
        " SELECT 1 FROM events e WHERE e.user_id = x.user_id AND e.ts >= x.first_at + ? AND e.ts < x.first_at + ?"
        f" AND e.event_type IN ({kinds})) THEN 1 ELSE 0 END)"
        " FROM outcome_exposures x WHERE x.experiment = ? AND x.first_at + ? <= ?"
        " AND x.first_at >= ? AND x.first_at < ? GROUP BY x.arm ORDER BY x.arm"
    )
    out: list[RetentionRow] = []
    for day in days:
        start, end = day * DAY_S, (day + 1) * DAY_S
        params = (start, end, *RETENTION_EVENT_TYPES, experiment, end, now.timestamp())
        params += (since.timestamp(), until.timestamp())
        for arm, held, users, active in cur.execute(sql, params).fetchall():
            out.append(RetentionRow(experiment, str(arm), bool(held), day, int(users), int(active or 0)))
    return out
