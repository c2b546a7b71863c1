"""Assistant replies stream only grounded sentences; tool schemas validate model calls."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from recsvc.copy.assistant import build_prompt, reply_check, stream_reply, template_reply
from recsvc.copy.config import CopyConfig
from recsvc.copy.llm import OpenAILLM
from recsvc.copy.titles import CatalogTitles
from recsvc.copy.tools import tool_definitions, validate_call
from recsvc.errors import InvalidArgument

# The ScriptedLLM class from conftest.py (a fixture, so no import of conftest).
Scripted = Callable[..., Any]
CFG = CopyConfig()
ITEMS = [
    {"item_id": "i1", "title": "Trail Running Shoes", "price": 89.0, "currency": "USD", "reason": "light"},
    {"item_id": "i2", "title": "Wool Hiking Socks", "price": 15.0, "currency": "USD", "reason": "warm"},
]
CONV = [("user", "What should I wear for a muddy trail run?")]


def test_grounded_reply_streams_through(scripted_llm: Scripted) -> None:
    text = "Try the Trail Running Shoes ($89): light and grippy. Add the Wool Hiking Socks ($15)."
    chunks = list(stream_reply(CONV, ITEMS, "en-US", scripted_llm([text]), CFG))
    assert len(chunks) == 2 and "".join(chunks) == text


def test_invented_item_stops_the_model_and_templates_the_rest(scripted_llm: Scripted) -> None:
    text = "Try the Trail Running Shoes ($89). The Salomon Speedcross Pro is better. Buy both."
    out = "".join(stream_reply(CONV, ITEMS, "en-US", scripted_llm([text]), CFG))
    assert out.startswith("Try the Trail Running Shoes ($89).")
    assert "Salomon" not in out and "Buy both" not in out
    assert out.endswith(template_reply(ITEMS, "en-US"))


def test_wrong_price_or_other_catalog_item_falls_back_entirely(scripted_llm: Scripted) -> None:
    titles = CatalogTitles(["Trail Running Shoes", "Wool Hiking Socks", "Rain Jacket Pro"])
    for text in ("The Trail Running Shoes cost $59.", "Get the Rain Jacket Pro too."):
        out = "".join(stream_reply(CONV, ITEMS, "en-US", scripted_llm([text]), CFG, catalog_titles=titles))
        assert out == template_reply(ITEMS, "en-US")


def test_endpoint_down_gives_template_reply() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = CopyConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2.0)
    out = "".join(stream_reply(CONV, ITEMS, "zh-CN", OpenAILLM(cfg), cfg))
    assert out == template_reply(ITEMS, "zh-CN") and "越" not in out and "Trail Running Shoes（$89）" in out


def test_prompts_carry_only_given_items() -> None:
    p = build_prompt(CONV, ITEMS, "en-US", "completion")
    assert isinstance(p, str) and p.endswith("Assistant:") and "Wool Hiking Socks ($15, warm)" in p
    msgs = build_prompt(CONV, ITEMS, "zh-CN", "chat")
    assert isinstance(msgs, list) and msgs[0]["role"] == "system" and msgs[-1]["content"] == CONV[0][1]
    assert template_reply([], "en-US").startswith("Sorry")


def test_tool_definitions_and_validation() -> None:
    names = [t["function"]["name"] for t in tool_definitions()]
    assert names == ["recommend_products", "get_user_profile", "write_message"]
    assert validate_call("recommend_products", {"user_id": "u1"}) == {"user_id": "u1", "query": "", "k": 10}
    assert validate_call("write_message", {"user_id": "u", "item_id": "i", "channel": "sms"})["channel"] == "sms"
    for name, args, field in (
        ("write_message", {"user_id": "u", "item_id": "i", "channel": "fax"}, "channel"),
        ("recommend_products", {"user_id": "u", "k": 0}, "k"),
        ("recommend_products", {"k": 3}, "user_id"),
        ("get_user_profile", {"user_id": "u", "ssn": "1"}, "ssn"),
        ("delete_user", {}, "name"),
    ):
        with pytest.raises(InvalidArgument) as exc:
            validate_call(name, args)
        assert exc.value.field == field


CATALOG = CatalogTitles(
    [
        "Trail Running Shoes",
        "Wool Hiking Socks",
        "Kiwi Eco Air Fryer, 3L",
        "Kiwi Eco Air Fryer",
        "奇异环保空气炸锅 3升",
        "奇异环保空气炸锅",
        "越野跑鞋",
    ]
)


def test_what_the_user_names_grants_no_item_and_no_price(scripted_llm: Scripted) -> None:
    conv = [
        ("user", "Kiwi Eco Air Fryer, 3L"),
        ("assistant", "Here are my picks for you: Trail Running Shoes ($89)."),
        ("user", "A friend paid ¥46.9 for one. And the shoes for $9?"),
    ]
    for text in (
        "The Kiwi Eco Air Fryer, 3L is a good pick.",  # a catalog item the user named, not among the items
        "The Trail Running Shoes cost $9.",  # a price the user wrote, not the item's
        "You could get the Trail Running Shoes for ¥46.9.",
    ):
        out = "".join(stream_reply(conv, ITEMS, "en-US", scripted_llm([text]), CFG, catalog_titles=CATALOG))
        assert out == template_reply(ITEMS, "en-US"), text


def test_a_chinese_reply_names_given_items_by_any_of_their_names(scripted_llm: Scripted) -> None:
    items = [{**ITEMS[0], "aliases": ["越野跑鞋"]}, ITEMS[1]]
    conv = [("user", "周末去爬山穿什么？")]
    ok = "推荐越野跑鞋（$89），轻便又防滑。"
    assert "".join(stream_reply(conv, items, "zh-CN", scripted_llm([ok]), CFG, catalog_titles=CATALOG)) == ok
    other = "推荐奇异环保空气炸锅，很实用。"
    out = "".join(stream_reply(conv, items, "zh-CN", scripted_llm([other]), CFG, catalog_titles=CATALOG))
    assert out == template_reply(items, "zh-CN")


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_template_replies_pass_the_reply_check(lang: str) -> None:
    items = [*ITEMS, {"item_id": "i3", "title": "Kiwi Eco Air Fryer, 3L", "price": 46.9, "currency": "CNY"}]
    check = reply_check([("user", "anything for $10?")], items, lang, CFG, CATALOG)
    text = template_reply(items, lang)
    assert check(text) is None
    assert all(it["title"] in text for it in items)
    assert "$89" in text and "¥46.90" in text
    assert check(text.replace("$89", "$10")) == "number"
