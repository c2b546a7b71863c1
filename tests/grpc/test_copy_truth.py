"""Copy claims only what holds, through the real server: a cart_idle Recommend for an empty cart
writes no cart claim; for an item in the cart it says so, and stops once the item is bought."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pandas as pd
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.copy.claims import Claim, claims_in
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained

LOCALES = (("zh-CN", "子涵", "购物车"), ("en-US", "Mia", "cart"))


def _ts(offset_s: float = 0.0) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int((time.time() + offset_s) * 1e9))
    return t


def _new_user(stub: pb_grpc.PushRecommenderStub, locale: str, name: str) -> str:
    user_id = f"truth-{uuid.uuid4().hex[:12]}"
    user = pb.User(user_id=user_id, locale=locale, first_name=name, timezone="Asia/Shanghai", push_opt_in=True)
    assert stub.UpsertUsers(pb.UpsertUsersRequest(users=[user]), timeout=10).upserted == 1
    return user_id


def _events(stub: pb_grpc.PushRecommenderStub, user_id: str, *rows: tuple[Any, str, float]) -> None:
    events = [pb.Event(user_id=user_id, ts=_ts(at), event_type=et, item_id=item) for et, item, at in rows]
    assert stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=30).accepted == len(events)


def _cart_idle(stub: pb_grpc.PushRecommenderStub, user_id: str) -> pb.RecommendResponse:
    req = pb.RecommendRequest(
        user_id=user_id,
        max_candidates=5,
        write_copy=True,
        allowed_channels=[pb.CHANNEL_APP_PUSH],
        context=pb.RequestContext(trigger=pb.TRIGGER_CART_IDLE),
    )
    r = stub.Recommend(req, timeout=60)
    assert r.candidates and all(c.HasField("message") for c in r.candidates)
    return r


def _copy(c: pb.Candidate) -> str:
    return f"{c.message.title}\n{c.message.body}"


@pytest.mark.parametrize(("locale", "name", "cart_word"), LOCALES)
def test_cart_idle_for_an_empty_cart_claims_no_cart(
    stub: pb_grpc.PushRecommenderStub, locale: str, name: str, cart_word: str
) -> None:
    r = _cart_idle(stub, _new_user(stub, locale, name))
    for c in r.candidates:
        assert Claim.CART not in claims_in(_copy(c)), _copy(c)
        assert cart_word not in _copy(c).lower(), _copy(c)
        assert c.message.locale == locale and not c.message.guardrail_failed


@pytest.mark.parametrize(("locale", "name", "cart_word"), LOCALES)
def test_cart_idle_names_the_item_in_the_cart_until_it_is_bought(
    stub: pb_grpc.PushRecommenderStub, trained: Trained, locale: str, name: str, cart_word: str
) -> None:
    items = pd.read_csv(trained.data / "items.csv", dtype=str, keep_default_na=False).set_index("item_id")
    item_id = str(items.index[3])
    title = items.loc[item_id, "title_zh" if locale == "zh-CN" else "title"]
    user_id = _new_user(stub, locale, name)
    _events(stub, user_id, (pb.EVENT_TYPE_VIEW, item_id, -600), (pb.EVENT_TYPE_ADD_TO_CART, item_id, -300))

    first = _cart_idle(stub, user_id).candidates[0]
    assert first.item.item_id == item_id  # an idle cart's items come first
    copy = _copy(first)
    assert cart_word in copy.lower() and Claim.CART in claims_in(copy), copy
    assert title[:4] in copy, copy
    for other in _cart_idle(stub, user_id).candidates[1:]:
        assert Claim.CART not in claims_in(_copy(other)), _copy(other)

    _events(stub, user_id, (pb.EVENT_TYPE_PURCHASE, item_id, -10))
    for c in _cart_idle(stub, user_id).candidates:
        assert Claim.CART not in claims_in(_copy(c)), _copy(c)
