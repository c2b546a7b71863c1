"""The record of a send ``Recommend`` books: its candidate, channel, copy, timing and request facts,
as the outcome log keeps it (:class:`~recsvc.outcomes.SendRecord`)."""

from __future__ import annotations

from collections.abc import Mapping

from recsvc.engine.experiment_step import Treatment
from recsvc.engine.types import CandidateView, RecommendQuery
from recsvc.outcomes import SendRecord
from recsvc.timing.sendtime import SlotChoice


def send_time_source(slot: SlotChoice | None, fixed_hour: int | None = None) -> str:
    """A word of ``vocabulary.SEND_TIME_SOURCES``: ``fixed_hour`` when an arm's hour was kept."""
    if slot is None:
        return "request_time"
    if slot.deferred:
        return "deferred"
    return "fixed_hour" if fixed_hour is not None and slot.local_hour == fixed_hour else "model"


def send_record(
    q: RecommendQuery,
    first: CandidateView,
    *,
    stage: str,
    tier: str,
    locale: str,
    slot: SlotChoice | None,
    versions: Mapping[str, str],
    treatment: Treatment | None = None,
) -> SendRecord:
    """The send of ``first`` (the candidate that is booked) for ``q``, in ``treatment``'s experiment arm."""
    t = treatment or Treatment()
    msg = first.message
    return SendRecord(
        dedupe_key=first.dedupe_key,
        user_id=q.user_id,
        item_id=first.item.item_id,
        channel=first.channel,
        trigger=q.trigger,
        stage=stage,
        tier=tier,
        writer=msg.writer if msg else "",
        variant=msg.variant if msg else "",
        locale=(msg.locale if msg else "") or locale,
        send_time_source=send_time_source(slot, t.send_hour),
        planned_at=slot.send_at_utc if slot is not None else q.now,
        booked_at=q.now,
        campaign_id=q.campaign_id,
        experiment=t.experiment_id,
        arm=t.arm,
        model_versions=dict(versions),
    )
