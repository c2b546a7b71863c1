from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.errors import FailedPrecondition, InvalidArgument, NotFound, Status
from recsvc.server import convert
from recsvc.server.errors import STATUS_CODES
from recsvc.settings import load_settings
from recsvc.v1 import recsvc_pb2 as pb

SETTINGS = load_settings(env={})


def test_every_domain_status_maps_to_a_grpc_code() -> None:
    assert set(STATUS_CODES) == set(Status)
    assert STATUS_CODES[InvalidArgument.status] == grpc.StatusCode.INVALID_ARGUMENT
    assert STATUS_CODES[NotFound.status] == grpc.StatusCode.NOT_FOUND
    assert STATUS_CODES[FailedPrecondition.status] == grpc.StatusCode.FAILED_PRECONDITION


def test_recommend_query_defaults_and_dedup() -> None:
    req = pb.RecommendRequest(user_id=" u1 ", max_candidates=3,
                              allowed_channels=[pb.CHANNEL_SMS, pb.CHANNEL_SMS, pb.CHANNEL_EMAIL])
    q = convert.recommend_query(req, SETTINGS)
    assert q.user_id == "u1" and q.trigger == "scheduled"
    assert q.allowed_channels == ("sms", "email")
    assert q.now.tzinfo is not None


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (pb.RecommendRequest(user_id="   ", max_candidates=1), "user_id"),
        (pb.RecommendRequest(user_id="u", max_candidates=101), "max_candidates"),
        (pb.RecommendRequest(user_id="u", max_candidates=1, context=pb.RequestContext(trigger=42)), "context.trigger"),
        (pb.RecommendRequest(user_id="u", max_candidates=1, allowed_channels=[0]), "allowed_channels[0]"),
        (pb.RecommendRequest(user_id="u", max_candidates=1,
                             context=pb.RequestContext(location=pb.Location(lat=123, lon=0))), "context.location"),
        (pb.RecommendRequest(user_id="u", max_candidates=1,
                             context=pb.RequestContext(now=Timestamp(seconds=253402300000))), "context.now"),
    ],
)
def test_bad_requests_name_the_field(req: pb.RecommendRequest, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        convert.recommend_query(req, SETTINGS)
    assert info.value.field == field
    assert field in str(info.value)


def test_event_rows_reject_per_row() -> None:
    now = Timestamp()
    now.GetCurrentTime()
    rows = convert.event_rows([
        pb.Event(user_id="u", ts=now, event_type=pb.EVENT_TYPE_VIEW, channel=pb.CHANNEL_APP_PUSH),
        pb.Event(user_id="", ts=now, event_type=pb.EVENT_TYPE_VIEW),
        pb.Event(user_id="u", event_type=pb.EVENT_TYPE_VIEW),
    ])
    assert rows[0][0] is not None and rows[0][0]["event_type"] == "view" and rows[0][0]["channel"] == "app_push"
    assert rows[1][0] is None and rows[1][1] == "user_id"
    assert rows[2][0] is None and rows[2][1] == "ts"
