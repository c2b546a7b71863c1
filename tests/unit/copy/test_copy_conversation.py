"""The language a reply is written in, and the user turns its items are retrieved for."""

from __future__ import annotations

import pytest

from recsvc.copy.conversation import (
    is_follow_up,
    query_turns,
    reply_language,
    retrieval_query,
    supported_locale,
    text_language,
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("gift ideas for hiking", "en-US"),
        ("有什么零食推荐吗？", "zh-CN"),
        ("想买个iPhone壳", "zh-CN"),  # an English product name inside a Chinese sentence
        ("推荐 Nike 跑鞋", "zh-CN"),
        ("Do you have 三只松鼠 nuts?", "en-US"),  # a Chinese brand inside an English sentence
        ("ok", "en-US"),
        ("好", "zh-CN"),
        ("👍", None),
        ("??? 100", None),
        ("", None),
    ],
)
def test_text_language(text: str, lang: str | None) -> None:
    assert text_language(text) == lang


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("en-US", "en-US"),
        ("en", "en-US"),
        ("EN_gb", "en-US"),
        ("zh-CN", "zh-CN"),
        ("zh_TW", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr-FR", None),
        ("xx-XX", None),
        ("klingon", None),
        ("en US", None),
        ("e", None),
        ("", None),
    ],
)
def test_supported_locale(tag: str, locale: str | None) -> None:
    assert supported_locale(tag) == locale


def test_reply_language_follows_the_last_user_message_then_the_locale_then_the_profile() -> None:
    assert reply_language([("user", "baby wipes")], "", "zh-CN") == "en-US"
    assert reply_language([("user", "baby wipes")], "zh-CN", "zh-CN") == "en-US"
    assert reply_language([("user", "咖啡")], "en-US", "en-US") == "zh-CN"
    # the latest user message decides, not the assistant's turns nor earlier user turns
    turns = [("user", "coffee please"), ("assistant", "Here you go."), ("user", "便宜一点的呢？")]
    assert reply_language(turns, "", "en-US") == "zh-CN"
    assert reply_language([("user", "咖啡"), ("assistant", "为你推荐：……"), ("user", "cheaper?")]) == "en-US"
    # a message without words: the conversation so far, then the request's locale, then the profile's
    assert reply_language([("user", "咖啡"), ("user", "👍")], "en-US", "") == "zh-CN"
    assert reply_language([("user", "👍")], "zh_TW", "en-US") == "zh-CN"
    assert reply_language([("user", "👍")], "", "zh-CN") == "zh-CN"
    assert reply_language([("user", "👍")], "", "fr-FR") == "en-US"
    assert reply_language([("assistant", "Hi!")]) == "en-US"


@pytest.mark.parametrize(
    "text",
    ["cheaper ones?", "any other colors?", "What about in blue?", "Is it waterproof?", "还有别的吗", "便宜点的？"],
)
def test_follow_ups(text: str) -> None:
    assert is_follow_up(text)


@pytest.mark.parametrize(
    "text",
    [
        "baby wipes",
        "coffee",
        "gift ideas for hiking",
        "猫粮",
        "I need a tent and two sleeping bags for a week of camping, which one is warmest",  # long: says it all
    ],
)
def test_not_follow_ups(text: str) -> None:
    assert not is_follow_up(text)


def test_query_turns_add_what_a_follow_up_refers_to() -> None:
    turns = [
        ("user", "coffee"),
        ("assistant", "Try the Harbor Smart Capsule Coffee."),
        ("user", "baby wipes"),
        ("assistant", "Here are some wipes."),
        ("user", "cheaper ones?"),
    ]
    assert query_turns(turns) == ["baby wipes", "cheaper ones?"]
    assert query_turns([*turns, ("user", "any other brands?")]) == ["baby wipes", "cheaper ones?", "any other brands?"]
    assert query_turns(turns[:3]) == ["baby wipes"]  # a new subject: the earlier one is left out
    assert query_turns([("user", "cheaper ones?")]) == ["cheaper ones?"]
    assert query_turns([("system", "be brief"), ("user", "  "), ("assistant", "Hi")]) == []
    # at most three user turns, however long the chain of follow-ups
    chain = [("user", "coffee")] + [("user", "more?")] * 5
    assert query_turns(chain) == ["more?", "more?", "more?"]


def test_retrieval_query_is_bounded_and_keeps_the_last_turn_first() -> None:
    turns = [("user", "baby wipes"), ("assistant", "Here."), ("user", "cheaper ones?")]
    assert retrieval_query(turns, 1000) == "baby wipes cheaper ones?"
    assert retrieval_query(turns, 13) == "cheaper ones?"  # no room left for the earlier turn
    assert retrieval_query(turns, 18) == "baby cheaper ones?"
    long = [("user", "x" * 10_000)]
    assert retrieval_query(long, 1000) == "x" * 1000
    assert retrieval_query([("assistant", "Hello")], 1000) == ""
