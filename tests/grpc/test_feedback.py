"""Feedback reasons change what the user gets next, through the real server: ``too_many`` makes the
cap refuse a reserved send sooner, ``not_relevant`` takes the rejected category off the lead, a bad
payload is refused alone, and the survey is a candidate with a cap of its own."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import clone_user

NOW = datetime.now(UTC).replace(microsecond=0)


def _ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def _feedback(user: str, payload: dict[str, object], item_id: str = "", at: datetime = NOW) -> pb.Event:
    return pb.Event(
        event_id=f"fb-{uuid.uuid4().hex[:12]}",
        user_id=user,
        ts=_ts(at - timedelta(minutes=1)),
        event_type=pb.EVENT_TYPE_FEEDBACK,
        item_id=item_id,
        payload=json.dumps(payload),
    )


def _recommend(
    user: str, now: datetime, *, reserve: bool = False, campaign: str = "", trigger: int = 0
) -> pb.RecommendRequest:
    ctx = pb.RequestContext(campaign_id=campaign, now=_ts(now), trigger=trigger)  # type: ignore[arg-type]
    return pb.RecommendRequest(user_id=user, context=ctx, max_candidates=5, write_copy=False, reserve=reserve)


def _booked_before_refusal(stub: pb_grpc.PushRecommenderStub, user: str) -> tuple[int, pb.RecommendResponse]:
    """Reserve a scheduled send every 12 hours (one 7-day window) until the caps refuse one."""
    for i in range(14):
        r = stub.Recommend(_recommend(user, NOW + timedelta(hours=12 * i), reserve=True, campaign=f"c{i}"), timeout=60)
        if r.HasField("suppression"):
            return i, r
    raise AssertionError("no refusal within a week of twice-daily sends")


def test_too_many_makes_the_cap_refuse_sooner(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, known_user: str
) -> None:
    before = clone_user(server, known_user, f"fb-a-{uuid.uuid4().hex[:12]}")
    after = clone_user(server, known_user, f"fb-b-{uuid.uuid4().hex[:12]}")
    r = stub.ReportEvents(pb.ReportEventsRequest(events=[_feedback(after, {"rating": 2, "reasons": ["too_many"]})]))
    assert r.accepted == 1 and not r.rejections
    n_before, _ = _booked_before_refusal(stub, before)
    n_after, refused = _booked_before_refusal(stub, after)
    assert n_before >= 2  # the twin without feedback gets some sends: the comparison means something
    assert n_after < n_before
    assert refused.suppression.reason == pb.SUPPRESSION_REASON_FREQUENCY_CAP


def test_not_relevant_takes_the_category_off_the_lead(stub: pb_grpc.PushRecommenderStub, own_user: str) -> None:
    first = stub.Recommend(_recommend(own_user, NOW), timeout=60)
    assert first.candidates
    rejected = first.candidates[0].item
    assert rejected.category
    events = [
        _feedback(own_user, {"reasons": ["not_relevant"]}, item_id=rejected.item_id),
        _feedback(own_user, {"rating": 7}),
        _feedback(own_user, {"reasons": ["not_relevant", "boring"]}, item_id=rejected.item_id),
    ]
    r = stub.ReportEvents(pb.ReportEventsRequest(events=events))
    assert r.accepted == 1
    assert [(x.index, x.field) for x in r.rejections] == [(1, "payload.rating"), (2, "payload.reasons[1]")]
    then = stub.Recommend(_recommend(own_user, NOW), timeout=60)
    assert then.candidates and then.candidates[0].item.category != rejected.category
    for c in then.candidates:
        if c.item.category == rejected.category:
            assert rejected.category not in c.reason and "what you like" not in c.reason


@pytest.fixture()
def everyone_surveyed(server: RecsvcServer) -> Iterator[None]:
    """Every user in the survey sample while the test runs (the engine reads its settings per call),
    at most one survey per 6 hours: the demo's own feedback events are older than that."""
    engine = server.engine
    kept = engine.settings
    feedback = dataclasses.replace(kept.feedback, survey_share=1.0, survey_every_days=0.25)
    engine.settings = dataclasses.replace(kept, feedback=feedback)
    yield
    engine.settings = kept


@pytest.mark.usefixtures("everyone_surveyed")
def test_survey_is_a_candidate_once_per_period(stub: pb_grpc.PushRecommenderStub, own_user: str) -> None:
    survey = pb.TRIGGER_SURVEY
    zh = pb.RecommendRequest(
        user_id=own_user, context=pb.RequestContext(trigger=survey, locale="zh-CN", now=_ts(NOW)), max_candidates=1
    )
    z = stub.Recommend(zh, timeout=60)
    assert z.candidates[0].message.locale == "zh-CN" and "推送" in z.candidates[0].message.body
    r = stub.Recommend(_recommend(own_user, NOW, reserve=True, campaign="survey", trigger=survey), timeout=60)
    assert not r.HasField("suppression"), r.suppression
    assert [c.source for c in r.candidates] == ["survey"]
    assert r.candidates[0].dedupe_key.startswith("survey-") and not r.candidates[0].item.item_id
    # Booked once: the next hours propose no survey (feedback.survey_every_days), the day after does.
    later = stub.Recommend(_recommend(own_user, NOW + timedelta(hours=3), trigger=survey), timeout=60)
    assert not later.candidates and later.suppression.reason == pb.SUPPRESSION_REASON_NO_CANDIDATES
    next_day = stub.Recommend(_recommend(own_user, NOW + timedelta(days=1), trigger=survey), timeout=60)
    assert [c.source for c in next_day.candidates] == ["survey"]
