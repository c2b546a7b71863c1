"""The send record Recommend books: the first candidate's facts, the copy's writer and variant, and
where its planned time came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recsvc.engine.sends import send_record
from recsvc.engine.types import CandidateView, ItemView, MessageView, RecommendQuery
from recsvc.timing.slots import SlotChoice

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def _candidate(message: MessageView | None) -> CandidateView:
    return CandidateView(
        item=ItemView(item_id="i-7", title="Tea"), score=1.0, source="embedding", reason="", channel="sms",
        channel_reason="", message=message, send_time=None, priority=1, expires_at=NOW, dedupe_key="k-1", rank=1,
    )  # fmt: skip


def _slot(deferred: bool) -> SlotChoice:
    at = NOW + timedelta(hours=3)
    return SlotChoice(at, 18, 0.4, NOW, NOW + timedelta(hours=24), deferred=deferred)


def test_a_booked_candidate_with_copy_and_a_model_slot() -> None:
    msg = MessageView("t", "b", "c", "", "", "zh-CN", "llm", "v2", "", "m")
    q = RecommendQuery(user_id="u1", now=NOW, trigger="cart_idle", campaign_id="spring")
    rec = send_record(q, _candidate(msg), stage="loyal", tier="high", locale="en-US", slot=_slot(False),
                      versions={"recs": "r1"})  # fmt: skip
    facts = (rec.dedupe_key, rec.user_id, rec.item_id, rec.channel, rec.trigger)
    assert facts == ("k-1", "u1", "i-7", "sms", "cart_idle")
    assert (rec.writer, rec.variant, rec.locale, rec.campaign_id) == ("llm", "v2", "zh-CN", "spring")
    assert (rec.send_time_source, rec.planned_at, rec.booked_at) == ("model", NOW + timedelta(hours=3), NOW)
    assert (rec.experiment, rec.arm, dict(rec.model_versions)) == ("", "", {"recs": "r1"})


def test_without_copy_or_slot_the_request_fills_in() -> None:
    q = RecommendQuery(user_id="u1", now=NOW)
    bare = send_record(q, _candidate(None), stage="interest", tier="low", locale="en-US", slot=None, versions={})
    assert (bare.writer, bare.variant, bare.locale) == ("", "", "en-US")
    assert (bare.send_time_source, bare.planned_at) == ("request_time", NOW)
    deferred = send_record(q, _candidate(None), stage="interest", tier="low", locale="en-US", slot=_slot(True),
                           versions={})  # fmt: skip
    assert deferred.send_time_source == "deferred"
