"""GetOutcomes: the request as an :class:`~recsvc.outcomes.OutcomeQuery`, the rows as ``OutcomeRow``s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from recsvc.errors import InvalidArgument
from recsvc.outcomes import OutcomeQuery, OutcomeRow, RetentionRow
from recsvc.server import fields
from recsvc.server.responses import dt_to_ts
from recsvc.settings import Settings
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.vocabulary import CHANNELS, OUTCOME_DIMENSIONS, STAGES, TIERS, TRIGGERS, WRITERS, enum_value, word

DEFAULT_RANGE = timedelta(days=7)


def outcome_query(req: pb.GetOutcomesRequest, settings: Settings, *, now: datetime | None = None) -> OutcomeQuery:
    """The checked query: every field that is wrong is named (``group_by[1]``, ``since``...)."""
    lim = settings.limits
    until = fields.timestamp(req.until, "until", default=now or datetime.now(UTC))
    since = fields.timestamp(req.since, "since", default=until - DEFAULT_RANGE)
    if len(req.group_by) > len(OUTCOME_DIMENSIONS):
        raise InvalidArgument(f"group_by has more than {len(OUTCOME_DIMENSIONS)} entries", field="group_by")
    dims = []
    for i, value in enumerate(req.group_by):
        dim = word(OUTCOME_DIMENSIONS, value)
        if dim is None:
            what = "must be set (OUTCOME_DIMENSION_UNSPECIFIED)" if value == 0 else f"unknown enum value {value}"
            raise InvalidArgument(f"group_by[{i}] {what}", field=f"group_by[{i}]")
        dims.append(dim)
    return OutcomeQuery(
        since=since,
        until=until,
        group_by=tuple(dict.fromkeys(dims)),
        experiment=fields.text(req.experiment_id, "experiment_id", lim.max_id_len),
        campaign_id=fields.text(req.campaign_id, "campaign_id", lim.max_id_len),
    )


def outcome_row_pb(r: OutcomeRow) -> pb.OutcomeRow:
    return pb.OutcomeRow(
        stage=enum_value(STAGES, r.stage),  # type: ignore[arg-type]
        tier=enum_value(TIERS, r.tier),  # type: ignore[arg-type]
        channel=enum_value(CHANNELS, r.channel),  # type: ignore[arg-type]
        trigger=enum_value(TRIGGERS, r.trigger),  # type: ignore[arg-type]
        writer=enum_value(WRITERS, r.writer),  # type: ignore[arg-type]
        variant=r.variant,
        locale=r.locale,
        experiment_id=r.experiment,
        arm=r.arm,
        campaign_id=r.campaign_id,
        sends=r.sends,
        delivered=r.delivered,
        opens=r.opens,
        clicks=r.clicks,
        conversions=r.conversions,
        purchases=r.purchases,
        revenue=r.revenue,
        unsubscribes=r.unsubscribes,
        dismissals=r.dismissals,
        feedback_count=r.feedback_count,
        feedback_mean_score=r.feedback_mean_score,
        **r.rates(),
    )


def outcomes_pb(
    query: OutcomeQuery, rows: Sequence[OutcomeRow], retention: Sequence[RetentionRow] = ()
) -> pb.GetOutcomesResponse:
    return pb.GetOutcomesResponse(
        rows=[outcome_row_pb(r) for r in rows],
        since=dt_to_ts(query.since),
        until=dt_to_ts(query.until),
        retention=[
            pb.RetentionRow(
                experiment_id=r.experiment, arm=r.arm, held_out=r.held_out, day=r.day, users=r.users,
                active=r.active, rate=r.rate,
            )
            for r in retention
        ],
    )  # fmt: skip
