"""Property: a request converter returns a valid domain value or raises InvalidArgument /
ResourceExhausted naming a field, whatever protobuf message it is given; nothing else escapes.

Messages come from ``tests/input_strategies.py``: valid ones with up to two fields replaced by a
value the documented limits refuse or by an arbitrary value (huge, deeply nested, NUL, odd
Unicode; inf/NaN/1e308; any int for enums and timestamps, year 1 and 9999). A valid message must
be accepted, a certainly invalid one refused (naming one of its bad fields when nothing arbitrary
could be reported first), and every accepted value is checked against the limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsvc.copy.conversation import supported_locale
from recsvc.data.io import ITEM_COLUMNS
from recsvc.engine.types import RecommendQuery
from recsvc.errors import InvalidArgument, RecsvcError, ResourceExhausted
from recsvc.server import convert
from recsvc.settings import load_settings
from recsvc.v1 import recsvc_pb2 as pb
from tests.input_strategies import (
    CONTEXTS,
    EVENTS,
    ITEMS,
    SCORE_USERS,
    USERS,
    Verdict,
    arbitrary_int,
    arbitrary_text,
    bad_required_id,
    batch,
    built,
    ident,
    one_of,
    recommend_requests,
    short,
)

SETTINGS = load_settings(env={})
LIM = SETTINGS.limits
PROPS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, InvalidArgument | ResourceExhausted | None]:
    """The converter's value, or its error after checking it is one of ours and names a field."""
    try:
        return fn(*args), None
    except (InvalidArgument, ResourceExhausted) as exc:
        assert exc.field, f"{type(exc).__name__} without a field: {exc}"
        assert exc.field in exc.message
        exc.message.encode("utf-8")  # it travels as gRPC status details
        return None, exc
    except RecsvcError as exc:  # pragma: no cover - a failure explains itself
        pytest.fail(f"unexpected {type(exc).__name__}: {exc}")


def _judge(verdict: Verdict, err: RecsvcError | None, prefix: str = "") -> None:
    """Valid -> accepted; certainly invalid -> refused, naming a bad field unless an arbitrary one came first."""
    if verdict.valid:
        assert err is None, err
    if verdict.bad:
        assert err is not None, f"accepted with bad {sorted(verdict.bad)}"
        if not verdict.arbitrary:
            assert any(str(err.field).startswith(prefix + n) for n in verdict.bad), (err.field, verdict)


def _check_text(value: str, limit: int) -> None:
    assert len(value) <= limit and "\x00" not in value
    value.encode("utf-8")


def _check_time(dt: datetime) -> None:
    assert datetime(1970, 1, 1, tzinfo=UTC) <= dt <= datetime.now(UTC) + timedelta(days=367)


@PROPS
@given(req=recommend_requests())
def test_recommend_query(req: tuple[pb.RecommendRequest, Verdict]) -> None:
    msg, verdict = req
    q, err = _outcome(convert.recommend_query, msg, SETTINGS)
    _judge(verdict, err)
    if q is None:
        return
    assert isinstance(q, RecommendQuery)
    _check_text(q.user_id, SETTINGS.engine.max_user_id_len)
    assert q.user_id.strip() and 1 <= q.max_candidates <= SETTINGS.engine.max_candidates
    _check_time(q.now)
    assert (q.lat is None) == (q.lon is None)
    if q.lat is not None and q.lon is not None:
        assert -90 <= q.lat <= 90 and -180 <= q.lon <= 180
    _check_text(q.query, LIM.max_query_len)
    for cid in q.cart_item_ids:
        _check_text(cid, LIM.max_id_len)


@PROPS
@given(req=SCORE_USERS)
def test_score_users_query(req: tuple[pb.ScoreUsersRequest, Verdict]) -> None:
    msg, verdict = req
    out, err = _outcome(convert.score_users_query, msg, SETTINGS)
    _judge(verdict, err)
    if out is not None:
        ids, as_of = out
        assert ids and all(i.strip() for i in ids)
        _check_time(as_of)


@PROPS
@given(events=st.lists(EVENTS, max_size=4))
def test_report_events_rows(events: list[tuple[pb.Event, Verdict]]) -> None:
    out, err = _outcome(convert.report_events_rows, pb.ReportEventsRequest(events=[e for e, _ in events]), SETTINGS)
    assert err is None  # per-row checks never fail a small batch whole
    rows, ids = out
    assert len(rows) == len(ids) == len(events)
    for (row, fld, why), (_, verdict) in zip(rows, events, strict=True):
        _judge(verdict, None if row is not None else InvalidArgument(why, field=fld))
        if row is None:
            assert fld and why
            continue
        _check_text(row["user_id"], SETTINGS.engine.max_user_id_len)
        for key in ("event_id", "item_id", "campaign_id", "variant"):
            if row[key] is not None:
                _check_text(row[key], LIM.max_id_len)
        assert row["quantity"] is None or row["quantity"] > 0
        assert row["value"] is None or 0 < abs(row["value"]) <= LIM.max_amount
        for key in ("lat", "lon"):
            assert row[key] is None or math.isfinite(row[key])
        _check_time(datetime.fromtimestamp(row["ts"], UTC))
        if row["payload"] is not None:
            assert len(row["payload"].encode("utf-8")) <= LIM.max_payload_bytes


def _judge_batch(batch_: list[tuple[Any, Verdict]], err: RecsvcError | None, name: str) -> None:
    """A batch is refused whole by its first bad row; a valid batch (ids unique) is accepted."""
    ids = [m.item_id.strip() if name == "items" else m.user_id.strip() for m, _ in batch_]
    if all(v.valid for _, v in batch_) and len(set(ids)) == len(ids):
        assert err is None, err
    if any(v.bad for _, v in batch_):
        assert err is not None
        if not any(v.arbitrary for _, v in batch_):
            assert any(
                str(err.field).startswith(f"{name}[{i}].{n}") for i, (_, v) in enumerate(batch_) for n in v.bad
            ) or ("twice" in err.message), (err.field, [v for _, v in batch_])


@PROPS
@given(items=batch(ITEMS))
def test_item_rows(items: list[tuple[pb.Item, Verdict]]) -> None:
    msgs = [m for m, _ in items]
    rows, err = _outcome(convert.item_rows, msgs, SETTINGS)
    _judge_batch(items, err, "items")
    if rows is None:
        return
    for row, it in zip(rows, msgs, strict=True):
        _check_text(row["item_id"], LIM.max_id_len)
        _check_text(row["title"], LIM.max_title_len)
        assert row["price"] is None or 0 < row["price"] <= LIM.max_amount
        extra = set(row) - set(ITEM_COLUMNS)
        assert extra == set(it.attributes)  # every attribute kept under its own name, none dropped
        for k in extra:
            _check_text(row[k], LIM.max_attribute_len)


@PROPS
@given(users=batch(USERS))
def test_user_rows(users: list[tuple[pb.User, Verdict]]) -> None:
    rows, err = _outcome(convert.user_rows, [m for m, _ in users], SETTINGS)
    if err is None:  # time zone and quiet hours are checked by the engine, after conversion
        assert all(v.bad <= {"timezone", "quiet_hours"} for _, v in users)
    else:
        assert not all(v.valid for _, v in users)
    for row in rows or []:
        _check_text(row["user_id"], SETTINGS.engine.max_user_id_len)
        _check_time(row["signup_ts"])
        for key in ("timezone", "locale", "city", "country", "quiet_hours", "first_name"):
            _check_text(row[key], LIM.max_text_len)


@PROPS
@given(user_id=st.one_of(ident, bad_required_id, arbitrary_text))
def test_profile_user_id(user_id: str) -> None:
    uid, _ = _outcome(convert.profile_user_id, pb.GetUserProfileRequest(user_id=user_id), SETTINGS)
    if uid is not None:
        _check_text(uid, SETTINGS.engine.max_user_id_len)


@st.composite
def message_requests(draw: st.DrawFn) -> tuple[pb.GenerateMessageRequest, Verdict]:
    ctx, cv = draw(CONTEXTS)
    req, v = draw(
        built(
            pb.GenerateMessageRequest,
            {"user_id": ident, "item_id": ident, "channel": st.integers(0, 4), "offer": one_of("", "10% off")},
            {
                "user_id": bad_required_id,
                "item_id": bad_required_id,
                "channel": one_of(5, -1),
                "offer": one_of("x" * 201, "\x00"),
            },
            {"user_id": arbitrary_text, "item_id": arbitrary_text, "channel": arbitrary_int, "offer": arbitrary_text},
        )
    )
    req.context.CopyFrom(ctx)
    # Only the context's trigger and locale are read by GenerateMessage; other context fields are ignored.
    used = {"trigger", "locale"}
    return req, Verdict(
        bad=v.bad | {f"context.{n}" for n in cv.bad & used},
        arbitrary=v.arbitrary | {f"context.{n}" for n in cv.arbitrary & used},
    )


@PROPS
@given(req=message_requests())
def test_message_args(req: tuple[pb.GenerateMessageRequest, Verdict]) -> None:
    msg, verdict = req
    a, err = _outcome(convert.message_args, msg, SETTINGS)
    _judge(verdict, err)
    if a is not None:
        assert a.item_id and a.channel in ("app_push", "sms", "email", "in_app")
        _check_text(a.offer, LIM.max_text_len)


TURNS = built(
    pb.ChatTurn,
    {"role": one_of("user", "assistant", "system"), "text": short},
    {"role": one_of("", "bot", "USER"), "text": one_of("x" * 4001, "\x00")},
    {"role": arbitrary_text, "text": arbitrary_text},
)


# Locales: ones the assistant answers in (empty = the profile's), and ones it refuses (or arbitrary text).
GOOD_LOCALES = one_of("", "en-US", "zh-CN", " zh_TW ", "EN", "zh-Hans-CN")
BAD_LOCALES = one_of("fr-FR", "xx-XX", "klingon", "en US", "e", "x" * 201, "\x00")


@PROPS
@given(
    turns=st.lists(TURNS, max_size=4),
    max_items=st.one_of(st.integers(0, 20), arbitrary_int),
    locale=st.one_of(GOOD_LOCALES, BAD_LOCALES, short),
)
def test_assistant_args(turns: list[tuple[pb.ChatTurn, Verdict]], max_items: int, locale: str) -> None:
    req = pb.AssistantReplyRequest(user_id="u", conversation=[t for t, _ in turns], max_items=max_items, locale=locale)
    a, err = _outcome(convert.assistant_args, req, SETTINGS)
    locale_ok = locale.strip() == "" or supported_locale(locale.strip()) is not None
    if turns and all(v.valid for _, v in turns) and 0 <= max_items <= 20 and locale_ok:
        assert err is None, err
    if not turns or any(v.bad for _, v in turns) or not locale_ok:
        assert err is not None
    if a is not None:
        assert 1 <= len(a.turns) <= LIM.max_turns and 1 <= a.max_items <= 20
        assert a.locale in ("", "en-US", "zh-CN")
        for role, text in a.turns:
            assert role in ("user", "assistant", "system")
            _check_text(text, LIM.max_turn_len)
