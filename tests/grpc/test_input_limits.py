"""Odd and oversized input through the real server: INVALID_ARGUMENT naming the field, never
INTERNAL; a bad event is rejected alone and the valid events of the same call are stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

YEAR_1 = Timestamp(seconds=-62135596800)
MB = "x" * 1_000_000


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def _refused(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)  # type: ignore[operator]
    return info.value


def test_year_1_now_and_as_of_are_invalid_argument(stub: pb_grpc.PushRecommenderStub) -> None:
    req = pb.RecommendRequest(user_id="limits-u", max_candidates=1, context=pb.RequestContext(now=YEAR_1))
    err = _refused(stub.Recommend, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "context.now" in err.details()
    err = _refused(stub.ScoreUsers, pb.ScoreUsersRequest(user_ids=["limits-u"], as_of=YEAR_1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "as_of" in err.details()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (pb.Event(payload="[" * 1000 + "]" * 1000), "payload"),
        (pb.Event(event_id=MB), "event_id"),
        (pb.Event(item_id=MB), "item_id"),
        (pb.Event(payload='{"k": "' + "x" * 10_000_000 + '"}'), "payload"),
        (pb.Event(location=pb.Location(lat=10, lon=float("inf"))), "location"),
    ],
)
def test_a_bad_event_is_rejected_alone_and_its_batch_is_stored(
    stub: pb_grpc.PushRecommenderStub, bad: pb.Event, field: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    user = f"limits-{tag}"
    good = [
        pb.Event(event_id=f"{tag}-{i}", user_id=user, ts=_now(), event_type=pb.EVENT_TYPE_VIEW, item_id="i1")
        for i in range(2)
    ]
    row = pb.Event(user_id=user, ts=_now(), event_type=pb.EVENT_TYPE_VIEW)
    row.MergeFrom(bad)
    r = stub.ReportEvents(pb.ReportEventsRequest(events=[good[0], row, good[1]]), timeout=60)
    assert (r.accepted, r.duplicate, r.rejected) == (2, 0, 1)
    assert r.rejections[0].index == 1 and r.rejections[0].field == field
    assert stub.GetUserProfile(pb.GetUserProfileRequest(user_id=user), timeout=30).event_count == 2


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (pb.Item(price=1e308), "items[0].price"),
        (pb.Item(title=MB), "items[0].title"),
        (pb.Item(item_id=MB), "items[0].item_id"),
        (pb.Item(attributes={"price": "abc"}), "items[0].attributes['price']"),
    ],
)
def test_bad_items_are_invalid_argument_naming_the_field(
    stub: pb_grpc.PushRecommenderStub, item: pb.Item, field: str
) -> None:
    it = pb.Item(item_id="limits-sku", title="Limits test item", price=5, in_stock=False)
    it.MergeFrom(item)
    err = _refused(stub.UpsertItems, pb.UpsertItemsRequest(items=[it]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.details()


def test_a_1_mb_user_id_is_refused_by_upsert_users(stub: pb_grpc.PushRecommenderStub) -> None:
    err = _refused(stub.UpsertUsers, pb.UpsertUsersRequest(users=[pb.User(user_id=MB)]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "users[0].user_id" in err.details()


def test_bytes_that_do_not_parse_are_invalid_argument_not_internal(channel: grpc.Channel) -> None:
    # RecommendRequest.user_id (field 1, length-delimited) holding invalid UTF-8, as a client in
    # another language can send; the generated Python stubs cannot build it.
    raw = b"\x0a\x02\xff\xfe\x20\x01"
    recommend = channel.unary_unary("/recsvc.v1.PushRecommender/Recommend")
    with pytest.raises(grpc.RpcError) as info:
        recommend(raw, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request" in info.value.details()
    stream = channel.stream_stream("/recsvc.v1.PushRecommender/RecommendStream")
    with pytest.raises(grpc.RpcError) as info:
        list(stream(iter([raw]), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
