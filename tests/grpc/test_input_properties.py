"""Properties against the real server: no request gets INTERNAL; a valid request is served; a
certainly invalid one is refused with INVALID_ARGUMENT naming the field; and every valid event in a
ReportEvents batch that also holds invalid ones is stored.

Requests come from ``tests/input_strategies.py`` (valid messages with up to two fields replaced by
certainly invalid or arbitrary values). Each example puts its ids under its own prefix so the
shared server's data and other tests are unaffected; generated items are out of stock, so they
never appear in other tests' recommendations.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.input_strategies import EVENTS, ITEMS, SCORE_USERS, USERS, Verdict, batch, recommend_requests

PROPS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CALLER_ERRORS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _tag() -> str:
    return f"hyp-{uuid.uuid4().hex[:12]}-"


def _own(msg: Any, verdict: Verdict, names: tuple[str, ...], prefix: str) -> None:
    """Prefix the example's good (and arbitrary, non-empty) ids; certainly bad ids stay as drawn."""
    for name in names:
        value = getattr(msg, name)
        if value and verdict.kind(name) != "bad":
            setattr(msg, name, prefix + value)


def _call(fn: Callable[..., Any], request: Any) -> tuple[Any, grpc.RpcError | None]:
    """The response, or the error after checking it is a caller error with details."""
    try:
        out = fn(request, timeout=60)
    except grpc.RpcError as err:
        assert err.code() in CALLER_ERRORS, f"{err.code()}: {err.details()}"
        assert err.details()
        event(f"refused: {err.code().name}")
        return None, err
    event("ok")
    return out, None


def _judge(valid: bool, bad: list[str], unsure: bool, err: grpc.RpcError | None) -> None:
    """Valid -> served; certainly invalid -> refused, naming a bad field unless an arbitrary one came first."""
    if valid:
        assert err is None, err.details() if err else ""
    if bad:
        assert err is not None, f"accepted with bad {bad}"
        if not unsure:
            assert any(b in err.details() for b in bad), (err.details(), bad)


@PROPS
@given(rows=st.lists(EVENTS, min_size=1, max_size=6))
def test_report_events_keeps_every_valid_row(
    stub: pb_grpc.PushRecommenderStub, rows: list[tuple[pb.Event, Verdict]]
) -> None:
    tag = _tag()
    events = [e for e, _ in rows]
    for e, v in rows:
        _own(e, v, ("event_id", "user_id"), tag)
    r, err = _call(stub.ReportEvents, pb.ReportEventsRequest(events=events))
    assert err is None  # a small batch is judged row by row, never refused whole
    assert r.accepted + r.duplicate + r.rejected == len(events)
    rejected = {x.index: x for x in r.rejections}
    event(f"rejected {len(rejected)} of {len(events)}")
    for i, (_, v) in enumerate(rows):
        x = rejected.get(i)
        assert x is None or (x.field and x.reason)
        assert not (v.valid and x), (i, x)
        assert not (v.bad and x is None), (i, v)
        if x is not None and v.bad and not v.arbitrary:
            assert x.field in v.bad, (x.field, v)
    kept = [e for i, e in enumerate(events) if i not in rejected]
    again = stub.ReportEvents(pb.ReportEventsRequest(events=kept), timeout=60)
    assert (again.accepted, again.duplicate, again.rejected) == (0, len(kept), 0)  # all were stored


@PROPS
@given(req=recommend_requests())
def test_recommend(stub: pb_grpc.PushRecommenderStub, req: tuple[pb.RecommendRequest, Verdict]) -> None:
    msg, v = req
    _own(msg, v, ("user_id",), _tag())
    _, err = _call(stub.Recommend, msg)
    _judge(v.valid, sorted(v.bad), bool(v.arbitrary), err)


@PROPS
@given(items=batch(ITEMS))
def test_upsert_items(stub: pb_grpc.PushRecommenderStub, items: list[tuple[pb.Item, Verdict]]) -> None:
    tag = _tag()
    for n, (it, v) in enumerate(items):
        it.in_stock = False
        _own(it, v, ("item_id",), f"{tag}{n}-")  # unique per row: a repeated id is a refusal of its own
    r, err = _call(stub.UpsertItems, pb.UpsertItemsRequest(items=[it for it, _ in items]))
    bad = [f"items[{i}].{n}" for i, (_, v) in enumerate(items) for n in v.bad]
    _judge(all(v.valid for _, v in items), bad, any(v.arbitrary for _, v in items), err)
    if r is not None:
        assert r.upserted == len(items)


@PROPS
@given(users=batch(USERS))
def test_upsert_users(stub: pb_grpc.PushRecommenderStub, users: list[tuple[pb.User, Verdict]]) -> None:
    tag = _tag()
    for u, v in users:
        _own(u, v, ("user_id",), tag)
    r, err = _call(stub.UpsertUsers, pb.UpsertUsersRequest(users=[u for u, _ in users]))
    bad = [f"users[{i}].{n}" for i, (_, v) in enumerate(users) for n in v.bad]
    _judge(all(v.valid for _, v in users), bad, any(v.arbitrary for _, v in users), err)
    if r is not None:
        assert r.upserted == len(users)


@PROPS
@given(req=SCORE_USERS)
def test_score_users(stub: pb_grpc.PushRecommenderStub, req: tuple[pb.ScoreUsersRequest, Verdict]) -> None:
    msg, v = req
    if v.kind("user_ids") != "bad":
        ids = [_tag() + i if i else i for i in msg.user_ids]
        del msg.user_ids[:]
        msg.user_ids.extend(ids)
    r, err = _call(stub.ScoreUsers, msg)
    _judge(v.valid, sorted(v.bad), bool(v.arbitrary), err)
    if r is not None:
        assert len(r.scores) == len(msg.user_ids)
