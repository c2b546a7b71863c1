"""Outcome metrics over a time range: one SQL aggregation over ``outcome_sends``, sliced by the
dimensions asked for. Counts are of sends (a send opened twice counts one open); rates are per send.
A send belongs to the range its booking time falls in (the ``Recommend``'s or the campaign's time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.store.cursor import qmark
from recsvc.vocabulary import OUTCOME_DIMENSIONS

# The outcome_sends columns of each dimension, keyed by the OutcomeRow field they fill.
DIMENSION_COLUMNS: Mapping[str, Mapping[str, str]] = {
    "stage": {"stage": "stage"},
    "tier": {"tier": "tier"},
    "channel": {"channel": "channel"},
    "trigger": {"trigger": "send_trigger"},
    "writer": {"writer": "writer"},
    "variant": {"variant": "variant"},
    "locale": {"locale": "locale"},
    "experiment_arm": {"experiment": "experiment", "arm": "arm"},
    "campaign": {"campaign_id": "campaign_id"},
}
_COUNTS = (
    ("sends", "COUNT(*)"),
    ("delivered", "COUNT(delivered_at)"),
    ("opens", "COUNT(opened_at)"),
    ("clicks", "COUNT(clicked_at)"),
    ("conversions", "COUNT(converted_at)"),
    ("purchases", "COALESCE(SUM(purchases), 0)"),
    ("revenue", "COALESCE(SUM(revenue), 0)"),
    ("unsubscribes", "COUNT(unsubscribed_at)"),
    ("dismissals", "COUNT(dismissed_at)"),
    ("feedback_count", "COALESCE(SUM(feedback_n), 0)"),
    ("scored", "COALESCE(SUM(score_n), 0)"),
    ("score_sum", "COALESCE(SUM(score_sum), 0)"),
)


@dataclass(frozen=True)
class OutcomeQuery:
    """Sends booked in ``[since, until)``, grouped by ``group_by`` (words of ``OUTCOME_DIMENSIONS``),
    of one experiment and one campaign when given."""

    since: datetime
    until: datetime
    group_by: tuple[str, ...] = ()
    experiment: str = ""
    campaign_id: str = ""

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            if getattr(self, name).tzinfo is None:
                raise InvalidArgument(f"{name} must be timezone-aware (UTC)", field=name)
        if self.since >= self.until:
            raise InvalidArgument(
                f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})", field="since"
            )
        for i, dim in enumerate(self.group_by):
            if dim not in OUTCOME_DIMENSIONS:
                raise InvalidArgument(
                    f"group_by[{i}]: unknown dimension {dim!r} (known: {', '.join(OUTCOME_DIMENSIONS)})",
                    field=f"group_by[{i}]",
                )


@dataclass(frozen=True)
class OutcomeRow:
    """One slice's outcomes; dimension fields not grouped by are empty."""

    sends: int
    delivered: int
    opens: int
    clicks: int
    conversions: int
    purchases: int
    revenue: float
    unsubscribes: int
    dismissals: int
    feedback_count: int
    scored: int
    score_sum: float
    stage: str = ""
    tier: str = ""
    channel: str = ""
    trigger: str = ""
    writer: str = ""
    variant: str = ""
    locale: str = ""
    experiment: str = ""
    arm: str = ""
    campaign_id: str = ""

    def _per_send(self, n: float) -> float:
        return n / self.sends if self.sends else 0.0

    @property
    def feedback_mean_score(self) -> float:
        return self.score_sum / self.scored if self.scored else 0.0

    def rates(self) -> dict[str, float]:
        """Each rate per send (0 for a slice without sends)."""
        return {
            "delivery_rate": self._per_send(self.delivered),
            "open_rate": self._per_send(self.opens),
            "click_rate": self._per_send(self.clicks),
            "conversion_rate": self._per_send(self.conversions),
            "revenue_per_send": self._per_send(self.revenue),
            "unsubscribe_rate": self._per_send(self.unsubscribes),
        }


def outcome_rows(cur: Any, q: OutcomeQuery) -> list[OutcomeRow]:
    """The rows of ``q`` with ``cur`` (sqlite3 or psycopg), ordered by the slice's values. Without
    ``group_by``: one row of totals (zeros when nothing was sent)."""
    fields = [f for dim in dict.fromkeys(q.group_by) for f in DIMENSION_COLUMNS[dim].items()]
    dims = [col for _, col in fields]
    where = ["booked_at >= ?", "booked_at < ?"]
    params: list[Any] = [q.since.timestamp(), q.until.timestamp()]
    for col, value in (("experiment", q.experiment), ("campaign_id", q.campaign_id)):
        if value:
            where.append(f"{col} = ?")
            params.append(value)
    select = ", ".join([*dims, *(expr for _, expr in _COUNTS)])
    sql = f"SELECT {select} FROM outcome_sends WHERE {' AND '.join(where)}"
    if dims:
        sql += f" GROUP BY {', '.join(dims)} ORDER BY {', '.join(dims)}"
    return [_row(fields, tuple(r)) for r in qmark(cur).execute(sql, params).fetchall()]


def _row(fields: list[tuple[str, str]], values: tuple[Any, ...]) -> OutcomeRow:
    """An aggregated row (the slice's columns, then the counts in ``_COUNTS`` order) as an OutcomeRow."""
    kw: dict[str, Any] = {name: str(v or "") for (name, _), v in zip(fields, values, strict=False)}
    for (name, _), v in zip(_COUNTS, values[len(fields) :], strict=True):
        kw[name] = float(v) if name in ("revenue", "score_sum") else int(v)
    return OutcomeRow(**kw)
