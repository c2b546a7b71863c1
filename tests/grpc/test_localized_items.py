"""Items in the reader's language through the real server: titles, descriptions, reasons, copy, profiles,
GenerateMessage, UpsertItems' translations and the CLI's text (the demo catalog has title_zh)."""

from __future__ import annotations

import pandas as pd
import pytest

from recsvc.client import format_recommendation, recommend_once
from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained


@pytest.fixture(scope="module")
def catalog(trained: Trained) -> pd.DataFrame:
    """The demo's items file as written: English and Chinese titles and descriptions by item id."""
    return pd.read_csv(trained.data / "items.csv", dtype=str, keep_default_na=False).set_index("item_id")


def _buyers(server: RecsvcServer, locale: str) -> list[str]:
    """Demo users of ``locale`` with purchases, most active first (never another test's copy of one)."""
    store = server.engine.store
    users = store.most_active_users(event_type="purchase", limit=100)
    return [u for u in users if not u.startswith("own-") and (store.get_user(u) or {}).get("locale") == locale]


def _buyer(server: RecsvcServer, locale: str) -> str:
    """The most active demo buyer of ``locale``."""
    found = _buyers(server, locale)
    assert found, f"the demo has no {locale} buyer"
    return found[0]


def _english_names_in(text: str, catalog: pd.DataFrame) -> list[str]:
    """English titles of any catalog item in ``text``, by their first two words (brand and adjective:
    a template shortens a title from its end)."""
    return [t for t in catalog["title"] if " ".join(t.split()[:2]) in text]


def _recommend(stub: pb_grpc.PushRecommenderStub, user: str, locale: str = "") -> pb.RecommendResponse:
    req = pb.RecommendRequest(
        user_id=user,
        max_candidates=10,
        write_copy=True,
        allowed_channels=[pb.CHANNEL_IN_APP],  # in-app copy carries the reason line too
        context=pb.RequestContext(locale=locale),
    )
    return stub.Recommend(req, timeout=60)


_FROM_HISTORY = ("co_occurrence", "ease", "embedding")  # sources whose reason names an item the user had


def test_a_zh_cn_user_sees_items_reasons_and_copy_in_chinese(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, catalog: pd.DataFrame
) -> None:
    # the first buyer whose list has an item proposed from their history (which other tests' events may change)
    responses = (_recommend(stub, uid) for uid in _buyers(server, "zh-CN"))
    r = next((r for r in responses if any(c.source in _FROM_HISTORY for c in r.candidates)), None)
    assert r is not None, "no zh-CN buyer got an item proposed from their history"
    for c in r.candidates:
        row = catalog.loc[c.item.item_id]
        assert (c.item.title, c.item.description) == (row["title_zh"], row["description_zh"])
        assert c.message.locale == "zh-CN" and not c.message.guardrail_failed
        copy = f"{c.message.title}\n{c.message.body}\n{c.message.call_to_action}"
        assert c.item.title[:4] in copy
        assert _english_names_in(copy, catalog) == [], copy
        assert _english_names_in(c.reason, catalog) == [], c.reason
    # Reasons that name an item of the user's history name it in Chinese.
    named = [c.reason for c in r.candidates if c.source in _FROM_HISTORY]
    assert named and all(any(t in why for t in catalog["title_zh"]) for why in named), named


def test_english_readers_still_see_english(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, catalog: pd.DataFrame
) -> None:
    for user, locale in ((_buyer(server, "zh-CN"), "en-US"), (_buyer(server, "en-US"), "")):
        r = _recommend(stub, user, locale)
        assert r.candidates
        for c in r.candidates:
            row = catalog.loc[c.item.item_id]
            assert (c.item.title, c.item.description) == (row["title"], row["description"])
            assert c.message.locale == "en-US"
            assert " ".join(row["title"].split()[:2]) in c.message.body
            assert not any(t in c.reason or t in c.message.body for t in catalog["title_zh"])


def test_profile_and_generated_message_use_the_readers_locale(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, catalog: pd.DataFrame
) -> None:
    user = _buyer(server, "zh-CN")
    prof = stub.GetUserProfile(pb.GetUserProfileRequest(user_id=user), timeout=30)
    assert [it.item_id for it in prof.recent_items] == list(prof.recent_item_ids)
    assert [it.title for it in prof.recent_items] == [catalog.loc[i, "title_zh"] for i in prof.recent_item_ids]
    en = stub.GetUserProfile(pb.GetUserProfileRequest(user_id=user, locale="en-US"), timeout=30)
    assert [it.title for it in en.recent_items] == [catalog.loc[i, "title"] for i in en.recent_item_ids]
    item = prof.recent_items[0]
    msg = stub.GenerateMessage(pb.GenerateMessageRequest(user_id=user, item_id=item.item_id), timeout=30).message
    assert msg.locale == "zh-CN" and item.title[:4] in msg.body
    assert _english_names_in(f"{msg.title}\n{msg.body}", catalog) == []


def test_upserted_translations_are_what_readers_of_that_locale_see(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer
) -> None:
    user = _buyer(server, "zh-CN")
    items = [
        pb.Item(
            item_id="loc-sku-typed",
            title="Bamboo Travel Mug",
            description="A mug for the road.",
            price=59,
            currency="CNY",
            localized={"zh-CN": pb.LocalizedText(title="竹制旅行杯", description="路上用的杯子。")},
        ),
        pb.Item(item_id="loc-sku-attr", title="Linen Tote Bag", price=89, attributes={"title_zh": "亚麻托特包"}),
    ]
    assert stub.UpsertItems(pb.UpsertItemsRequest(items=items), timeout=60).upserted == 2
    for item_id, zh, en in (
        ("loc-sku-typed", "竹制旅行杯", "Bamboo Travel Mug"),
        ("loc-sku-attr", "亚麻托特包", "Linen Tote Bag"),
    ):
        for locale, title, absent in (("", zh, en), ("en-US", en, zh)):
            req = pb.GenerateMessageRequest(user_id=user, item_id=item_id, context=pb.RequestContext(locale=locale))
            body = stub.GenerateMessage(req, timeout=30).message.body
            assert title in body and absent not in body, body


def test_the_cli_shows_what_the_reader_reads(server: RecsvcServer, catalog: pd.DataFrame) -> None:
    user = _buyer(server, "zh-CN")
    target = f"127.0.0.1:{server.port}"
    for locale, column in (("", "title_zh"), ("en-US", "title")):
        result = recommend_once(target, user, max_candidates=2, locale=locale, timeout_s=60)
        text = format_recommendation(result)
        for c in result["candidates"]:
            assert f"#{c['rank']} {catalog.loc[c['item']['item_id'], column]} [" in text
