"""Recommend and RecommendStream through the real server: full answers, new users, bad inputs, health."""

from __future__ import annotations

import itertools
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def _req(user: str, n: int = 3, **kw: object) -> pb.RecommendRequest:
    return pb.RecommendRequest(user_id=user, max_candidates=n, write_copy=True, **kw)  # type: ignore[arg-type]


def test_known_user_gets_full_candidates(stub: pb_grpc.PushRecommenderStub, known_user: str) -> None:
    r = stub.Recommend(_req(known_user), timeout=30)
    assert r.user_id == known_user and not r.new_user
    assert r.lifecycle.current_stage != pb.LIFECYCLE_STAGE_UNSPECIFIED
    assert r.lifecycle.predicted_stage != pb.LIFECYCLE_STAGE_UNSPECIFIED
    assert 0.0 <= r.lifecycle.churn_risk <= 1.0
    assert len(r.lifecycle.churn_reasons) >= 1 and r.lifecycle.churn_reasons[0].text
    assert abs(sum(s.probability for s in r.lifecycle.stage_probabilities) - 1.0) < 1e-3
    assert r.engagement_tier != pb.ENGAGEMENT_TIER_UNSPECIFIED
    assert len(r.candidates) >= 3
    ids = [c.item.item_id for c in r.candidates]
    assert len(set(ids)) == len(ids)
    for rank, c in enumerate(r.candidates, start=1):
        assert c.rank == rank and c.item.title and c.reason and c.source
        assert c.channel != pb.CHANNEL_UNSPECIFIED
        assert c.message.title and c.message.body
        assert c.message.writer in (pb.WRITER_LLM, pb.WRITER_TEMPLATE)
        assert c.send_time.send_at.seconds > 0 and 0 <= c.send_time.local_hour < 24
        assert c.send_time.window_start.seconds <= c.send_time.send_at.seconds <= c.send_time.window_end.seconds
        assert c.dedupe_key
    assert r.model_versions.lifecycle and r.model_versions.recs and r.model_versions.sendtime
    # The send-time curve: consecutive hours from the local top of the hour, a distribution.
    starts = [h.hour_start.seconds for h in r.send_curve]
    assert 2 <= len(starts) <= 48 and all(b - a == 3600 for a, b in itertools.pairwise(starts))
    assert abs(sum(h.propensity for h in r.send_curve) - 1.0) < 1e-6
    assert starts[0] <= r.candidates[0].send_time.send_at.seconds <= starts[-1] + 3600


def test_a_new_event_is_seen_by_the_next_recommend(stub: pb_grpc.PushRecommenderStub, own_user: str) -> None:
    """The per-user caches follow the history: a push delivered now keeps its item out of the answer."""
    first = stub.Recommend(_req(own_user, 3), timeout=30)
    top = first.candidates[0].item.item_id
    ev = pb.Event(
        event_id=f"test-push-{time.time_ns()}",
        user_id=own_user,
        item_id=top,
        event_type=pb.EVENT_TYPE_PUSH_DELIVERED,
        channel=pb.CHANNEL_APP_PUSH,
    )
    ev.ts.GetCurrentTime()
    assert stub.ReportEvents(pb.ReportEventsRequest(events=[ev]), timeout=30).accepted == 1
    again = stub.Recommend(_req(own_user, 3), timeout=30)
    assert top not in [c.item.item_id for c in again.candidates]


def test_llm_down_still_answers_within_deadline_with_templates(
    stub: pb_grpc.PushRecommenderStub, known_user: str
) -> None:
    # The deadline is the check: a wait for the dead LLM past it would end in DEADLINE_EXCEEDED.
    r = stub.Recommend(_req(known_user, 5), timeout=2.0)
    assert r.candidates
    assert all(c.message.writer == pb.WRITER_TEMPLATE for c in r.candidates)


def test_unknown_user_is_a_new_user_with_cold_start(stub: pb_grpc.PushRecommenderStub) -> None:
    r = stub.Recommend(_req("never-seen-before-42"), timeout=30)
    assert r.new_user
    assert len(r.candidates) >= 3
    assert r.lifecycle.current_stage == pb.LIFECYCLE_STAGE_AWARENESS


def _expect(stub_call: object, code: grpc.StatusCode, needle: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub_call()  # type: ignore[operator]
    err = info.value
    assert err.code() == code, err.details()
    assert needle in err.details()


@pytest.mark.parametrize(
    ("req", "needle"),
    [
        (_req(""), "user_id"),
        (_req("x" * 500), "user_id"),
        (_req("u1", 0), "max_candidates"),
        (_req("u1", 10_000), "max_candidates"),
        (pb.RecommendRequest(user_id="u1", max_candidates=3, context=pb.RequestContext(trigger=99)), "context.trigger"),
        (pb.RecommendRequest(user_id="u1", max_candidates=3, allowed_channels=[42]), "allowed_channels[0]"),
        (
            pb.RecommendRequest(
                user_id="u1", max_candidates=3, context=pb.RequestContext(now=Timestamp(seconds=253402300000))
            ),
            "context.now",
        ),
    ],
)
def test_bad_requests_are_invalid_argument_and_server_keeps_serving(
    stub: pb_grpc.PushRecommenderStub, known_user: str, req: pb.RecommendRequest, needle: str
) -> None:
    _expect(lambda: stub.Recommend(req, timeout=10), grpc.StatusCode.INVALID_ARGUMENT, needle)
    assert stub.Recommend(_req(known_user, 1), timeout=30).candidates


def test_stream_answers_each_request_with_its_own_status(stub: pb_grpc.PushRecommenderStub, known_user: str) -> None:
    reqs = [_req(known_user, 2), _req("", 2), _req("fresh-user", 2)]
    out = list(stub.RecommendStream(iter(reqs), timeout=60))
    assert [o.index for o in out] == [0, 1, 2]
    assert out[0].code == 0 and len(out[0].response.candidates) == 2
    assert out[1].code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "user_id" in out[1].error
    assert out[2].code == 0 and out[2].response.new_user


def test_health_is_serving_after_load(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    h = health_pb2_grpc.HealthStub(channel)
    assert h.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    svc = "recsvc.v1.PushRecommender"
    assert (
        h.Check(health_pb2.HealthCheckRequest(service=svc), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    )


def test_reflection_lists_the_service(channel: grpc.Channel) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    names = {s.name for s in resp.list_services_response.service}
    assert "recsvc.v1.PushRecommender" in names and "grpc.health.v1.Health" in names


def test_health_not_serving_until_models_load(trained: object) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from recsvc.server.app import build_server

    srv: RecsvcServer = build_server(trained.settings)  # type: ignore[attr-defined]
    srv.start(load_models=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            h = health_pb2_grpc.HealthStub(ch)
            assert (
                h.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
            )
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.PushRecommenderStub(ch).Recommend(_req("u1"), timeout=5)
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            srv.load_models_now()
            assert h.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        srv.stop(0)
