"""Recommend(reserve=true) under concurrency, through the real server: dedupe answers, caps hold."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from recsvc.vocabulary import EngagementTier

CALLS = 40


def _ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def _reserve(user: str, campaign: str, now: datetime) -> pb.RecommendRequest:
    ctx = pb.RequestContext(campaign_id=campaign, now=_ts(now))
    return pb.RecommendRequest(user_id=user, context=ctx, max_candidates=3, write_copy=False, reserve=True)


def _sendable_user(stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, skip: int) -> str:
    """A HIGH-tier user (the tier with the largest caps) without booked sends (other tests' users have
    some) that a preview would send to now; ``skip`` of them are left for other tests, so that each test
    books sends for a user of its own."""
    found = 0
    week_ago = datetime.now(UTC) - timedelta(days=8)
    for user in sorted(u for u, t in server.engine._states.tiers().items() if t == "high"):
        if server.engine.caps.sends_for(user, week_ago):
            continue
        r = stub.Recommend(pb.RecommendRequest(user_id=user, max_candidates=3, write_copy=False), timeout=30)
        if r.candidates and not r.HasField("suppression") and r.engagement_tier == pb.ENGAGEMENT_TIER_HIGH:
            if found == skip:
                return user
            found += 1
    raise AssertionError("the demo has too few HIGH-tier users a send could go to")


def _booked(server: RecsvcServer, user: str, since: datetime) -> list[float]:
    return [r.at_utc.timestamp() for r in server.engine.caps.sends_for(user, since)]


def test_one_campaign_reserved_concurrently_books_once_and_says_duplicate(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer
) -> None:
    user = _sendable_user(stub, server, skip=0)
    now = datetime.now(UTC).replace(microsecond=0)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: stub.Recommend(_reserve(user, "spring-sale", now), timeout=60), range(CALLS)))
    booked = [a for a in answers if not a.HasField("suppression")]
    assert len(booked) == 1 == len(_booked(server, user, now - timedelta(days=1)))
    key = booked[0].candidates[0].dedupe_key
    others = [a.suppression for a in answers if a.HasField("suppression")]
    assert len(others) == CALLS - 1
    assert all(s.reason == pb.SUPPRESSION_REASON_DUPLICATE for s in others)
    assert all(key in s.detail and now.strftime("%Y-%m-%dT%H:%M:%SZ") in s.detail for s in others)


def test_distinct_campaigns_reserved_concurrently_out_of_order_never_pass_the_daily_cap(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer
) -> None:
    user = _sendable_user(stub, server, skip=1)
    cap = server.engine.settings.frequency.daily_cap(EngagementTier.HIGH)
    base = datetime.now(UTC).replace(microsecond=0)
    # Later requests carry earlier times: a send booked for a later time must still count.
    reqs = [_reserve(user, f"campaign-{i}", base - timedelta(seconds=i)) for i in range(CALLS)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda r: stub.Recommend(r, timeout=60), reqs))
    booked = [a for a in answers if not a.HasField("suppression")]
    stamps = _booked(server, user, base - timedelta(days=1))
    assert 1 <= len(booked) == len(stamps) <= cap
    assert all(
        a.suppression.reason == pb.SUPPRESSION_REASON_FREQUENCY_CAP for a in answers if a.HasField("suppression")
    )
