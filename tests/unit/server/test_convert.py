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
    req = pb.RecommendRequest(
        user_id=" u1 ", max_candidates=3, allowed_channels=[pb.CHANNEL_SMS, pb.CHANNEL_SMS, pb.CHANNEL_EMAIL]
    )
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
        (
            pb.RecommendRequest(
                user_id="u", max_candidates=1, context=pb.RequestContext(location=pb.Location(lat=123, lon=0))
            ),
            "context.location",
        ),
        (
            pb.RecommendRequest(
                user_id="u", max_candidates=1, context=pb.RequestContext(now=Timestamp(seconds=253402300000))
            ),
            "context.now",
        ),
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
    rows = convert.event_rows(
        [
            pb.Event(user_id="u", ts=now, event_type=pb.EVENT_TYPE_VIEW, channel=pb.CHANNEL_APP_PUSH),
            pb.Event(user_id="", ts=now, event_type=pb.EVENT_TYPE_VIEW),
            pb.Event(user_id="u", event_type=pb.EVENT_TYPE_VIEW),
        ],
        SETTINGS,
    )
    assert rows[0][0] is not None and rows[0][0]["event_type"] == "view" and rows[0][0]["channel"] == "app_push"
    assert rows[1][0] is None and rows[1][1] == "user_id"
    assert rows[2][0] is None and rows[2][1] == "ts"


# ---- limits and odd input: each reproduced case names its field ---------------------------
YEAR_1 = Timestamp(seconds=-62135596800)
MB = "x" * 1_000_000


def _ts_now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def _field_of(fn: object, *args: object) -> str:
    with pytest.raises(InvalidArgument) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.field and info.value.field in str(info.value)
    return str(info.value.field)


def test_year_1_now_and_as_of_are_refused_by_name() -> None:
    req = pb.RecommendRequest(user_id="u", max_candidates=1, context=pb.RequestContext(now=YEAR_1))
    assert _field_of(convert.recommend_query, req, SETTINGS) == "context.now"
    assert _field_of(convert.score_users_query, pb.ScoreUsersRequest(user_ids=["u"], as_of=YEAR_1), SETTINGS) == "as_of"


def test_a_deeply_nested_payload_rejects_only_its_row() -> None:
    deep = "[" * 1000 + "]" * 1000
    rows = convert.event_rows(
        [
            pb.Event(user_id="u", ts=_ts_now(), event_type=pb.EVENT_TYPE_VIEW, payload=deep),
            pb.Event(user_id="u", ts=_ts_now(), event_type=pb.EVENT_TYPE_VIEW, payload='{"a": [1, {"b": "]]]"}]}'),
        ],
        SETTINGS,
    )
    assert rows[0][0] is None and rows[0][1] == "payload" and "32" in rows[0][2]
    assert rows[1][0] is not None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (pb.Event(event_id=MB), "event_id"),
        (pb.Event(item_id=MB), "item_id"),
        (pb.Event(payload='{"a": "' + "x" * 20_000 + '"}'), "payload"),
        (pb.Event(payload='{"a": NaN}'), "payload"),
        (pb.Event(location=pb.Location(lat=1, lon=float("inf"))), "location"),
        (pb.Event(value=float("nan")), "value"),
        (pb.Event(value=1e308), "value"),
        (pb.Event(quantity=-1), "quantity"),
        (pb.Event(channel=99), "channel"),
        (pb.Event(event_id="a\x00b"), "event_id"),
        (pb.Event(user_id="x" * 129), "user_id"),
        (pb.Event(ts=Timestamp(seconds=1_700_000_000, nanos=-1)), "ts"),
    ],
)
def test_bad_event_fields_are_rejected_by_name(event: pb.Event, field: str) -> None:
    e = pb.Event(user_id="u", ts=_ts_now(), event_type=pb.EVENT_TYPE_VIEW)
    e.MergeFrom(event)
    [(row, fld, why)] = convert.event_rows([e], SETTINGS)
    assert row is None and fld == field and why


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (pb.Item(price=1e308), "items[0].price"),
        (pb.Item(price=float("nan")), "items[0].price"),
        (pb.Item(title=MB), "items[0].title"),
        (pb.Item(item_id=MB), "items[0].item_id"),
        (pb.Item(description="d" * 4001), "items[0].description"),
        (pb.Item(attributes={"price": "abc"}), "items[0].attributes['price']"),
        (pb.Item(attributes={"title_zh": "t" * 1001}), "items[0].attributes['title_zh']"),
        (pb.Item(attributes={f"k{i}": "v" for i in range(65)}), "items[0].attributes"),
        (pb.Item(tags=["a|b"]), "items[0].tags[0]"),
        (pb.Item(cities=["c"] * 101), "items[0].cities"),
    ],
)
def test_bad_item_fields_are_refused_by_name(item: pb.Item, field: str) -> None:
    it = pb.Item(item_id="sku", title="A title", price=10)
    it.MergeFrom(item)
    assert _field_of(convert.item_rows, [it], SETTINGS) == field


def test_item_attributes_that_are_not_item_fields_are_kept() -> None:
    [row] = convert.item_rows([pb.Item(item_id="sku", title="T", attributes={"title_zh": "标题"})], SETTINGS)
    assert row["title_zh"] == "标题" and row["price"] is None


def test_localized_item_text_becomes_the_catalogs_translation_columns() -> None:
    it = pb.Item(
        item_id="sku",
        title="Green Tea",
        attributes={"title_zh": "绿茶", "brand": "X"},
        localized={
            "zh": pb.LocalizedText(title=" 绿茶 "),  # the same as the attribute: no conflict
            "zh-TW": pb.LocalizedText(title="綠茶", description="散裝茶葉。"),
            "ja": pb.LocalizedText(),  # nothing to store
        },
    )
    [row] = convert.item_rows([it], SETTINGS)
    assert {k: v for k, v in row.items() if k.startswith(("title_", "description_"))} == {
        "title_zh": "绿茶",
        "title_zh-TW": "綠茶",
        "description_zh-TW": "散裝茶葉。",
    }


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (pb.Item(localized={"zh CN": pb.LocalizedText(title="t")}), "items[0].localized['zh CN']"),
        (pb.Item(localized={"zh": pb.LocalizedText(title=MB)}), "items[0].localized['zh'].title"),
        (pb.Item(localized={"zh": pb.LocalizedText(description="d" * 4001)}), "items[0].localized['zh'].description"),
        (pb.Item(localized={"z" * 200: pb.LocalizedText(title="t")}), "items[0].localized"),
        (pb.Item(localized={f"x{i:02d}": pb.LocalizedText(title="t") for i in range(65)}), "items[0].localized"),
        # The same translation given twice, differently: refused rather than one silently winning.
        (
            pb.Item(attributes={"title_zh_CN": "绿茶"}, localized={"zh-CN": pb.LocalizedText(title="龙井")}),
            "items[0].localized['zh-CN'].title",
        ),
        (
            pb.Item(localized={"zh-CN": pb.LocalizedText(title="绿茶"), "zh_CN": pb.LocalizedText(title="龙井")}),
            "items[0].localized['zh_CN'].title",
        ),
    ],
)
def test_bad_localized_item_text_is_refused_by_name(item: pb.Item, field: str) -> None:
    it = pb.Item(item_id="sku", title="A title", price=10)
    it.MergeFrom(item)
    assert _field_of(convert.item_rows, [it], SETTINGS) == field


@pytest.mark.parametrize(
    ("user", "field"),
    [
        (pb.User(user_id=MB), "users[0].user_id"),
        (pb.User(user_id="u", first_name=MB), "users[0].first_name"),
        (pb.User(user_id="u", signup_ts=YEAR_1), "users[0].signup_ts"),
        (pb.User(user_id="u", city="a\x00"), "users[0].city"),
    ],
)
def test_bad_user_fields_are_refused_by_name(user: pb.User, field: str) -> None:
    assert _field_of(convert.user_rows, [user], SETTINGS) == field


def test_assistant_turns_are_bounded_and_roles_checked() -> None:
    ok = pb.ChatTurn(role="user", text="hi")
    many = pb.AssistantReplyRequest(user_id="u", conversation=[ok] * 51)
    assert _field_of(convert.assistant_args, many, SETTINGS) == "conversation"
    long = pb.AssistantReplyRequest(user_id="u", conversation=[pb.ChatTurn(role="user", text="x" * 4001)])
    assert _field_of(convert.assistant_args, long, SETTINGS) == "conversation[0].text"
    role = pb.AssistantReplyRequest(user_id="u", conversation=[pb.ChatTurn(role="bot", text="x")])
    assert _field_of(convert.assistant_args, role, SETTINGS) == "conversation[0].role"
    assert _field_of(convert.assistant_args, pb.AssistantReplyRequest(user_id="u"), SETTINGS) == "conversation"


@pytest.mark.parametrize("locale", ["fr-FR", "xx-XX", "klingon", "en US"])
def test_assistant_refuses_a_locale_it_cannot_answer_in(locale: str) -> None:
    req = pb.AssistantReplyRequest(user_id="u", conversation=[pb.ChatTurn(role="user", text="hi")], locale=locale)
    assert _field_of(convert.assistant_args, req, SETTINGS) == "locale"


def test_assistant_locale_is_read_as_the_locale_it_answers_in() -> None:
    turn = pb.ChatTurn(role="user", text="hi")
    for given, locale in (("zh_TW", "zh-CN"), (" en-GB ", "en-US"), ("", "")):
        req = pb.AssistantReplyRequest(user_id="u", conversation=[turn], locale=given)
        assert convert.assistant_args(req, SETTINGS).locale == locale


def test_generate_message_checks_offer_and_item_id() -> None:
    req = pb.GenerateMessageRequest(user_id="u", item_id="i", offer=MB)
    assert _field_of(convert.message_args, req, SETTINGS) == "offer"
    req = pb.GenerateMessageRequest(user_id="u", item_id="i", context=pb.RequestContext(trigger=-3))
    assert _field_of(convert.message_args, req, SETTINGS) == "context.trigger"
