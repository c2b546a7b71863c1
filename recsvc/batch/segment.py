"""Segments of users for campaigns: ``stage=churning and churn_risk>0.6``.

A segment is a conjunction of comparisons on what the engine knows of each user. Text fields
compare with ``=`` and ``!=`` (``in`` takes a comma-separated list); ``churn_risk`` compares as a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import STAGES, TIERS

TEXT_FIELDS = {"stage": STAGES, "predicted_stage": STAGES, "tier": TIERS, "city": (), "locale": ()}
NUMBER_FIELDS = ("churn_risk",)
_TERM = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|!=|=|<|>|\s+in\s+)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[str, ...]

    def holds(self, row: dict[str, Any]) -> bool:
        value = row.get(self.field)
        if self.field in NUMBER_FIELDS:
            x, y = float(value or 0.0), float(self.values[0])
            return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "=": x == y, "!=": x != y}[self.op]
        text = str(value or "")
        if self.op == "!=":
            return text != self.values[0]
        return text in self.values


@dataclass(frozen=True)
class Segment:
    """All users when empty; else the users for whom every condition holds."""

    conditions: tuple[Condition, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, expr: str) -> Segment:
        """Raises ``InvalidArgument`` (field ``segment``) naming the term it cannot read."""
        expr = expr.strip()
        if not expr or expr.lower() == "all":
            return cls((), "all")
        terms = re.split(r"\s+and\s+", expr, flags=re.IGNORECASE)
        return cls(tuple(_condition(t) for t in terms), expr)

    def holds(self, row: dict[str, Any]) -> bool:
        return all(c.holds(row) for c in self.conditions)


def _condition(term: str) -> Condition:
    m = _TERM.match(term)
    if not m:
        raise InvalidArgument(f"cannot read {term!r}: want FIELD OP VALUE, e.g. churn_risk>0.6", field="segment")
    name, op, raw = m.group(1), m.group(2).strip(), m.group(3).strip().strip("'\"")
    known = sorted((*TEXT_FIELDS, *NUMBER_FIELDS))
    if name not in known:
        raise InvalidArgument(f"unknown field {name!r} in {term!r}; known: {', '.join(known)}", field="segment")
    if name in NUMBER_FIELDS:
        if op == "in":
            raise InvalidArgument(f"{name} compares with <, <=, >, >=, = or !=", field="segment")
        try:
            float(raw)
        except ValueError:
            raise InvalidArgument(f"{name} needs a number, got {raw!r}", field="segment") from None
        return Condition(name, op, (raw,))
    if op not in ("=", "!=", "in"):
        raise InvalidArgument(f"{name} compares with =, != or in, not {op}", field="segment")
    values = tuple(v.strip() for v in raw.split(",")) if op == "in" else (raw,)
    allowed = TEXT_FIELDS[name]
    bad = [v for v in values if allowed and v not in allowed]
    if bad:
        raise InvalidArgument(f"unknown {name} {bad[0]!r}; known: {', '.join(allowed)}", field="segment")
    return Condition(name, "=" if op == "in" else op, values)
