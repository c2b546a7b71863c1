"""Prompts carry the strategy and facts; parsers take the first well-formed block and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace

from recsvc.copy import prompts
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields
from recsvc.copy.types import CopyRequest

CFG = CopyConfig()
REQ = CopyRequest(
    user_id="u1",
    first_name="Mia",
    stage="churning",
    trigger="geo_enter",
    channel="app_push",
    item_title="Bamboo Cutting Board",
    price=28.0,
    currency="USD",
    offer="20% off",
    city="Austin",
    reason="you bought a chef knife",
)


def test_completion_prompt_shares_a_fixed_prefix_and_ends_in_title() -> None:
    a = prompts.completion_prompt(REQ, CFG, shared=True)
    b = prompts.completion_prompt(
        replace(REQ, stage="awareness", channel="email", item_title="Wool Beanie"), CFG, shared=True
    )
    assert a.endswith("\nTitle:") and a.count("###") == len(prompts.EXAMPLES["en-US"])
    head = a[: a.rindex("###")]
    assert b.startswith(head)  # llama.cpp reuses the KV cache of this prefix
    last = a.splitlines()[-2]
    assert "win the user back" in last and "item=Bamboo Cutting Board" in last and "price=$28" in last
    assert "name={name}" in last and "city={city}" in last
    assert "chef knife" not in a  # a per-user reason never enters shared copy


def test_per_user_prompt_has_the_real_name_and_reason() -> None:
    last = prompts.completion_prompt(REQ, CFG, shared=False).splitlines()[-2]
    assert "name=Mia" in last and "city=Austin" in last and "chef knife" in last


def test_zh_prompt_and_chat_messages() -> None:
    zh = replace(REQ, locale="zh-CN", item_title="竹制砧板", currency="CNY")
    p = prompts.completion_prompt(zh, CFG, shared=True)
    assert "用优惠召回用户" in p and "item=竹制砧板" in p and "price=¥28" in p
    msgs = prompts.chat_messages(zh, CFG, shared=True)
    assert msgs[0]["role"] == "system" and "Simplified Chinese" in msgs[0]["content"]
    assert "{name}" in msgs[0]["content"] and "item: 竹制砧板" in msgs[1]["content"]


def test_parse_completion_takes_first_block_only() -> None:
    text = " Hi {name}!\nBody: Come back for 20% off.\nCTA: Come back\n###\nFacts: x\nTitle: other\n"
    assert prompts.parse_completion(text) == Fields("Hi {name}!", "Come back for 20% off.", "Come back")
    assert prompts.parse_completion(" I am a professional photographer") is None
    assert prompts.parse_completion(" Hi\nBody: x\nTitle: again\nBody: y") == Fields("Hi", "x", "")


def test_parse_chat_accepts_json_in_fences_or_the_line_format() -> None:
    obj = {"title": "Hi", "body": "See {name} the board.", "cta": "Go"}
    assert prompts.parse_chat("```json\n" + json.dumps(obj) + "\n```") == Fields("Hi", "See {name} the board.", "Go")
    assert prompts.parse_chat('Sure! {"title": "A", "body": "B"} more') == Fields("A", "B", "")
    assert prompts.parse_chat("Title: A\nBody: B\nCTA: C") == Fields("A", "B", "C")
    assert prompts.parse_chat("<sys> <<sys>>") is None
    assert prompts.parse_chat('{"title": "only a title"}') is None
