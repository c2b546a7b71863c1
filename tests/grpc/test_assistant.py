"""AssistantReply through the real server: the reply is in the language of the question, its items are
retrieved for what was asked (a follow-up with what it follows), and it names no other item or price.

The LLM endpoint is down here, so replies are the template's; tests/unit/copy holds the LLM's side.
"""

from __future__ import annotations

import re

import grpc
import pytest

from recsvc.catalog_text import all_titles
from recsvc.copy.conversation import text_language
from recsvc.copy.titles import CJK
from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

Turns = list[tuple[str, str]]


def _ask(
    stub: pb_grpc.PushRecommenderStub, user_id: str, turns: Turns, locale: str = ""
) -> tuple[list[pb.Candidate], str]:
    conv = [pb.ChatTurn(role=role, text=text) for role, text in turns]
    req = pb.AssistantReplyRequest(user_id=user_id, conversation=conv, max_items=3, locale=locale)
    chunks = list(stub.AssistantReply(req, timeout=60))
    assert chunks[-1].done
    return list(chunks[0].items), "".join(c.text for c in chunks)


def _profile_locale(stub: pb_grpc.PushRecommenderStub, user_id: str, locale: str) -> None:
    user = pb.User(user_id=user_id, locale=locale, timezone="Asia/Shanghai", push_opt_in=True)
    assert stub.UpsertUsers(pb.UpsertUsersRequest(users=[user]), timeout=30).upserted == 1


def _own_words(reply: str, items: list[pb.Candidate]) -> str:
    """The reply without the items' titles: the words the reply itself is written in."""
    for c in items:
        reply = reply.replace(c.item.title, " ")
    return reply


def _assert_grounded(server: RecsvcServer, reply: str, items: list[pb.Candidate]) -> None:
    """Every catalog title the reply names is a returned item's; every amount is a returned item's price."""
    frame = server.engine.store.items_frame()
    titles = {t for row in frame.to_dict("records") for t in all_titles(row)}  # every locale's names
    named = {t for t in titles if t in reply}
    assert named and named <= {c.item.title for c in items}, named
    for amount in re.findall(r"[$¥€£]\s*(\d+(?:\.\d+)?)", reply):
        assert any(abs(float(amount) - c.item.price) < 0.005 for c in items), (amount, reply)


def _mostly(items: list[pb.Candidate], category: str) -> bool:
    return 2 * sum(c.item.category == category for c in items) > len(items)


def test_an_english_question_from_a_chinese_profile_gets_english_and_the_asked_for_items(
    server: RecsvcServer, stub: pb_grpc.PushRecommenderStub, own_user: str
) -> None:
    _profile_locale(stub, own_user, "zh-CN")
    items, reply = _ask(stub, own_user, [("user", "baby wipes")])
    assert items and _mostly(items, "baby"), [(c.item.title, c.item.category) for c in items]
    words = _own_words(reply, items)
    assert not CJK.search(words) and text_language(words) == "en-US", reply
    _assert_grounded(server, reply, items)


def test_a_chinese_question_from_an_english_profile_gets_chinese(
    server: RecsvcServer, stub: pb_grpc.PushRecommenderStub, own_user: str
) -> None:
    _profile_locale(stub, own_user, "en-US")
    items, reply = _ask(stub, own_user, [("user", "有什么咖啡推荐吗？")], locale="en-US")
    assert items and text_language(_own_words(reply, items)) == "zh-CN", reply
    _assert_grounded(server, reply, items)


def test_a_follow_up_is_retrieved_with_the_question_it_follows(
    server: RecsvcServer, stub: pb_grpc.PushRecommenderStub, own_user: str
) -> None:
    _profile_locale(stub, own_user, "zh-CN")
    first, _ = _ask(stub, own_user, [("user", "coffee")])
    assert _mostly(first, "coffee_tea")
    turns = [("user", "coffee"), ("assistant", "Here are my picks for you."), ("user", "cheaper ones?")]
    items, reply = _ask(stub, own_user, turns)
    assert items and _mostly(items, "coffee_tea"), [(c.item.title, c.item.category) for c in items]
    assert text_language(_own_words(reply, items)) == "en-US", reply
    _assert_grounded(server, reply, items)


@pytest.mark.parametrize(
    ("conversation", "locale", "field"),
    [
        ([("user", "coffee")], "xx-XX", "locale"),
        ([("user", "coffee")], "klingon", "locale"),
        ([("user", "x" * 10_000)], "", "conversation[0].text"),
        ([], "", "conversation"),
        ([("user", "coffee"), ("assistant", "Here you go.")] * 500, "", "conversation"),
    ],
)
def test_bad_assistant_requests_are_refused_by_name(
    stub: pb_grpc.PushRecommenderStub, conversation: Turns, locale: str, field: str
) -> None:
    conv = [pb.ChatTurn(role=role, text=text) for role, text in conversation]
    req = pb.AssistantReplyRequest(user_id="assistant-limits", conversation=conv, max_items=3, locale=locale)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.AssistantReply(req, timeout=60))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(field), info.value.details()
