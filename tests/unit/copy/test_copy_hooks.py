"""The hook writer: grammar, parsing, the judge's rules and score, slot filling, best of K, the cache.

The LLM here is the scripted client from conftest.py (its replies are the inputs under test); the
real model writing hooks is exercised in ``tests/integration/test_hook_writer_llm.py``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recsvc.copy import hook_prompts, hooks
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields, check
from recsvc.copy.types import CopyRequest
from recsvc.copy.writer import Copywriter
from recsvc.errors import InvalidArgument

Scripted = Callable[..., Any]
CFG = CopyConfig()
EN = CopyRequest(
    user_id="u1",
    first_name="Mia",
    locale="en-US",
    stage="interest",
    channel="app_push",
    item_id="i1",
    item_title="Lumi Premium Face Serum, 30ml",
    price=159.9,
    currency="CNY",
    offer="10% off",
    item_url="https://shop.example.com/i/i1",
)
ZH = CopyRequest(
    user_id="u2",
    first_name="子涵",
    locale="zh-CN",
    stage="churning",
    channel="app_push",
    item_id="i2",
    item_title="露米臻选精华液 30毫升",
    price=159.9,
    currency="CNY",
    offer="9折",
)


def hook_json(text: str) -> str:
    return json.dumps({"hook": text}, ensure_ascii=False)


def no_guard(_: Fields) -> str | None:
    return None


# ------------------------------------------------------------------------------- grammar
@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_grammar_bounds_the_hook_and_allows_no_digits_or_quotes(lang: str) -> None:
    g = hook_prompts.hook_grammar(5, lang)
    lines = g.strip().splitlines()
    assert lines[0] == 'root ::= "{\\"hook\\": \\"" s1 "\\"}"'
    chain = [ln for ln in lines if ln.startswith("s")]
    assert [ln.split(" ::= ")[0] for ln in chain] == ["s1", "s2", "s3", "s4", "s5"]
    assert chain[-1] == "s5 ::= char"  # the fifth character ends the string
    classes = "".join(ln for ln in lines if ln.startswith(("first", "char")))
    assert not re.search(r"[0-9\"{}/@\\\\]", classes.replace("::=", ""))
    if lang == "zh-CN":
        assert "一-鿿" in classes
    else:
        assert not re.search(r"[一-鿿]", classes)


def test_grammar_of_one_character_has_no_optional_tail() -> None:
    assert "s1 ::= first\n" in hook_prompts.hook_grammar(1, "en-US")


# ------------------------------------------------------------------------------- prompt
def test_completion_prompt_is_a_fixed_prefix_then_the_item_short_name() -> None:
    p = hook_prompts.completion_prompt(EN)
    other = hook_prompts.completion_prompt(replace(EN, item_title="Nova Daily Toner, 100ml", stage="loyal"))
    prefix = p.rsplit("Item:", 1)[0]
    assert other.startswith(prefix) and prefix.count('{"hook": "') == len(hook_prompts.EXAMPLES["en-US"])
    assert p.endswith("Item: Lumi Premium Face Serum | Moment: why people like it\n")
    zh = hook_prompts.completion_prompt(ZH)
    assert zh.startswith(hook_prompts.HEADERS["zh-CN"]) and zh.endswith("商品: 露米臻选精华液｜场景: 欢迎回来\n")
    assert "Item" not in zh


def test_chat_messages_ask_for_json_with_the_bound() -> None:
    msgs = hook_prompts.chat_messages(ZH, 18)
    assert msgs[0]["role"] == "system" and '{"hook": "..."}' in msgs[0]["content"]
    assert "18" in msgs[0]["content"] and "Simplified Chinese" in msgs[0]["content"]
    assert "露米臻选精华液" in msgs[1]["content"]


def test_short_name_drops_the_variant() -> None:
    assert hook_prompts.short_name("Pebble Natural Cycling Helmet, 6mm", "en-US") == "Pebble Natural Cycling Helmet"
    assert hook_prompts.short_name("露米臻选精华液 30毫升", "zh-CN") == "露米臻选精华液"
    assert hook_prompts.short_name("  Yoga Mat ", "en-US") == "Yoga Mat"


# ------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "finish", "want"),
    [
        ('{"hook": "Serum that makes skin glow"}', "stop", "Serum that makes skin glow"),
        ('```json\n{"hook": "好久不见，精华液等你"}\n```', "", "好久不见，精华液等你"),
        ('{"hook": "Serum that makes skin', "stop", None),  # unbalanced: cut inside the object
        ('{"hook": "Serum that makes skin glow"}', "length", None),  # cut by the token limit
        ('{"title": "Serum"}', "stop", None),
        ('{"hook": 3}', "stop", None),
        ("Serum that glows", "stop", None),
    ],
)
def test_parse_hook(text: str, finish: str, want: str | None) -> None:
    assert hooks.parse_hook(text, finish) == want


# ------------------------------------------------------------------------------- judging
@pytest.mark.parametrize(
    ("req", "hook", "rule"),
    [
        (EN, None, "truncated"),
        (EN, "A face serum your skin will thank you f", "truncated"),  # filled the 30-char bound... and more
        (EN, "Serum!", "hook_length"),
        (EN, "Serum 精华 for glowing skin", "hook_language"),
        (EN, "Glow up this week, friend", "hook_unnamed"),
        (EN, "Premium picks for you today", "hook_unnamed"),  # filler words do not name it
        (EN, "Why runners love these shoes", "hook_unnamed"),
        (EN, "Serum and linen for your skin", "hook_off_item"),  # an example product's word
        (EN, "Serum serum for your face", "hook_repeat"),
        (ZH, "Serum for you", "hook_language"),
        (ZH, "好久不见，欢迎回来", "hook_unnamed"),
        (ZH, "欢迎回来", "hook_length"),
        (ZH, "精华液：大家为什么喜欢它", "hook_echo"),  # a moment line of the prompt, with the name
        (ZH, "精华液精华液真好", "hook_repeat"),
        (ZH, "精华液配亚麻抱枕", "hook_off_item"),
    ],
)
def test_judge_refuses_by_rule(req: CopyRequest, hook: str | None, rule: str) -> None:
    got = hooks.judge(hook, req, CFG, no_guard)
    assert got.rule == rule and got.score == 0.0


def test_judge_refuses_copied_tails_and_dangling_endings() -> None:
    tea = replace(ZH, item_title="翡翠豪华绿茶 250克")
    assert hooks.judge("绿茶，熬夜后的小帮手", tea, CFG, no_guard).rule == "hook_echo"  # an example's tail
    phones = replace(ZH, item_title="竹语环保无线耳机 白色")
    assert hooks.judge("无线耳机，熬夜也好用", phones, CFG, no_guard).rule == "hook_off_item"
    snack = replace(EN, item_title="Maple Ultra Seaweed Snack, 50g")
    assert hooks.judge("Seaweed snacks for a day at a", snack, CFG, no_guard).rule == "truncated"
    assert hooks.judge("Seaweed for a healthy snack", snack, CFG, no_guard).rule == ""


def test_a_hook_that_ends_at_the_bound_is_not_truncated() -> None:
    # The grammar allows bound + 1 characters: a hook cut by it has bound + 1, one that closed itself
    # at the bound ended on its own.
    toy = replace(ZH, item_title="麻薯臻选磨牙玩具 鸡肉味")
    bound = hooks.hook_bound(toy, CFG)
    at_bound = "麻薯臻选磨牙玩具，给你一个美观的礼物"
    assert len(at_bound) == bound and hooks.judge(at_bound, toy, CFG, no_guard).rule == ""
    assert hooks.judge(at_bound + "盒", toy, CFG, no_guard).rule == "truncated"
    assert hooks.grammar_chars(bound) == bound + 1


def test_judge_echo_of_an_example_hook() -> None:
    req = replace(EN, item_title="Vesta Running Shoes")
    assert hooks.judge("Why runners love these shoes", req, CFG, no_guard).rule == "hook_echo"


@pytest.mark.parametrize(
    ("req", "hook"),
    [
        (EN, "Face serum for a morning glow"),
        (EN, "Serums your skin will love"),  # a plural still names it
        (ZH, "好久不见，精华液等你回来"),
        (ZH, "露米臻选精华液回来看看"),
    ],
)
def test_judge_passes_hooks_that_name_the_item(req: CopyRequest, hook: str) -> None:
    got = hooks.judge(hook, req, CFG, no_guard)
    assert got.rule == "" and got.score > 1.0


def test_judge_runs_the_guardrails_on_the_whole_message() -> None:
    seen: list[Fields] = []

    def guard(f: Fields) -> str | None:
        seen.append(f)
        return "banned_word"

    assert hooks.judge("Face serum for a morning glow", EN, CFG, guard).rule == "banned_word"
    assert seen and seen[0].title == "Face serum for a morning glow"  # "Mia, ..." is over 30 chars
    assert "Lumi Premium Face Serum" in seen[0].body


def test_score_prefers_the_full_name_and_a_clean_ending() -> None:
    full = hooks.judge("Lumi Premium Face Serum glow", EN, CFG, no_guard)
    word = hooks.judge("A face serum for glowing skin", EN, CFG, no_guard)
    dangling = hooks.judge("Face serum for glowing skin,", EN, CFG, no_guard)
    assert full.score > word.score > dangling.score > 0
    assert hooks.best([dangling, word, full]) == full
    assert hooks.best([hooks.judge(None, EN, CFG, no_guard)]) is None


def test_best_takes_the_earliest_on_ties() -> None:
    a = hooks.Judged("a", "", 1.5)
    b = hooks.Judged("b", "", 1.5)
    assert hooks.best([a, b]) is a


# ------------------------------------------------------------------------------- slots
def test_compose_en_puts_name_and_hook_in_the_title_and_facts_in_the_body() -> None:
    req = replace(EN, channel="in_app")
    f = hooks.compose("A face serum for a glow", req, CFG)
    assert f.title == "Mia, a face serum for a glow"
    assert "Lumi Premium Face Serum" in f.body and "10% off" in f.body
    assert f.cta and check(f, req, CFG) is None


def test_compose_keeps_a_leading_item_word_capitalised_and_drops_a_name_that_does_not_fit() -> None:
    req = replace(EN, channel="in_app")
    assert hooks.compose("Serum that glows", req, CFG).title == "Mia, Serum that glows"
    long_hook = "Face serum for a morning glow"
    assert hooks.compose(long_hook, EN, CFG).title == long_hook  # push titles hold 30 characters
    assert hooks.compose(long_hook, replace(req, first_name=""), CFG).title == long_hook


def test_compose_zh_uses_the_localized_title_price_and_offer() -> None:
    f = hooks.compose("好久不见，精华液等你", ZH, CFG)
    assert f.title == "子涵，好久不见，精华液等你"
    assert "精华液" in f.body and "9折" in f.body
    assert check(f, ZH, CFG) is None
    sms = hooks.compose("好久不见，精华液等你", replace(ZH, channel="sms"), CFG)
    assert sms.body.endswith(CFG.sms_opt_out_zh)


def test_hook_bound_is_the_locale_setting_within_the_channel_title() -> None:
    assert hooks.hook_bound(EN, CFG) == 30  # push title
    assert hooks.hook_bound(replace(EN, channel="email"), CFG) == 40
    assert hooks.hook_bound(ZH, CFG) == 18
    assert hooks.hook_bound(replace(ZH, channel="email"), replace(CFG, hook_max_chars_zh=12)) == 12


def test_cache_key_changes_with_every_fact() -> None:
    base = hooks.cache_key(EN, CFG)
    for change in (
        {"item_id": "i9"},
        {"item_title": "Lumi Premium Face Serum, 50ml"},
        {"locale": "zh-CN"},
        {"stage": "loyal"},
        {"trigger": "app_open"},
        {"price": 99.0},
        {"offer": "15% off"},
        {"channel": "email"},  # a longer bound
    ):
        assert hooks.cache_key(replace(EN, **change), CFG) != base, change
    assert hooks.cache_key(replace(EN, first_name="Leo", user_id="u9"), CFG) == base


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("writer", "poem"),
        ("hook_candidates", 0),
        ("hook_rounds", 0),
        ("hook_max_chars_zh", 3),
        ("hook_min_chars_en", 2),
    ],
)
def test_bad_hook_settings_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgument, match=field):
        replace(CFG, **{field: value}).validate()


# ------------------------------------------------------------------------------- the writer
def test_writer_takes_the_best_of_k_constrained_candidates(scripted_llm: Scripted) -> None:
    replies = [
        hook_json("Glow up this week"),  # does not name the item
        hook_json("Face serum for glowing skin,"),
        '{"hook": "Face serum that',  # truncated
        hook_json("Face serum for a morning glow"),
    ]
    llm = scripted_llm(replies)
    with Copywriter(CFG, llm) as w:
        msg = w.write_now(EN, timeout_s=5.0)
        m = w.metrics()
    assert msg.writer == "llm" and msg.title == "Face serum for a morning glow"
    assert "Lumi Premium Face Serum" in msg.body and check(msg, EN, CFG) is None
    assert llm.calls == 4 and len(set(llm.seeds)) == 4
    assert all(g and g.startswith("root ::=") for g in llm.grammars)
    assert m["hook_refused_hook_unnamed"] == 1 and m["hook_refused_truncated"] == 1


def test_writer_falls_back_to_the_template_naming_the_rule(scripted_llm: Scripted) -> None:
    llm = scripted_llm([hook_json("好久不见，欢迎回来")])
    with Copywriter(replace(CFG, hook_candidates=2), llm) as w:
        msg = w.write_now(ZH, timeout_s=5.0)
        m = w.metrics()
    assert msg.writer == "template" and msg.guardrail_failed == "hook_unnamed"
    # Two rounds of K = 2: all four refused.
    assert msg.fallback_reason == "guardrail" and llm.calls == 4 and len(set(llm.seeds)) == 4
    assert m["hook_extra_rounds"] == 1 and m["hook_extra_round_misses"] == 1


def test_writer_tries_a_second_round_only_when_the_first_is_all_refused(scripted_llm: Scripted) -> None:
    refused, good = hook_json("好久不见，欢迎回来"), hook_json("好久不见，精华液等你回来")
    llm = scripted_llm([refused, refused, good, refused])
    with Copywriter(replace(CFG, hook_candidates=2), llm) as w:
        msg = w.write_now(ZH, timeout_s=5.0)
        m = w.metrics()
    assert msg.writer == "llm" and msg.title == "子涵，好久不见，精华液等你回来"
    assert llm.calls == 4 and m["hook_extra_round_wins"] == 1
    llm = scripted_llm([good, refused, refused, refused])
    with Copywriter(replace(CFG, hook_candidates=2), llm) as w:
        assert w.write_now(ZH, timeout_s=5.0).writer == "llm"
    assert llm.calls == 2  # the first round had a passing hook
    llm = scripted_llm([refused])
    with Copywriter(replace(CFG, hook_candidates=2, hook_rounds=1), llm) as w:
        assert w.write_now(ZH, timeout_s=5.0).writer == "template"
    assert llm.calls == 2
    assert "精华液" in msg.body


def test_writer_chat_mode_asks_for_json_without_grammar(scripted_llm: Scripted) -> None:
    llm = scripted_llm(['Sure! {"hook": "好久不见，精华液等你回来"}'])
    with Copywriter(replace(CFG, mode="chat", hook_candidates=1), llm) as w:
        msg = w.write_now(ZH, timeout_s=5.0)
    assert msg.writer == "llm" and msg.title == "子涵，好久不见，精华液等你回来"
    assert llm.grammars == [None] and isinstance(llm.prompts[0], list)


def test_hooks_are_cached_in_their_own_table_and_shared_by_users(scripted_llm: Scripted, tmp_path: Path) -> None:
    db = tmp_path / "copy.sqlite"
    llm = scripted_llm([hook_json("Face serum for a morning glow")])
    with Copywriter(replace(CFG, hook_candidates=1), llm, cache_db=db) as w:
        first = w.write_now(EN, timeout_s=5.0)
        assert first.writer == "llm" and llm.calls == 1
        other = w.write(replace(EN, user_id="u7", first_name="Leo", channel="in_app"))
    # A different channel bound is a different hook: a template now, the LLM in the background.
    assert other.writer in ("template", "llm")
    with Copywriter(replace(CFG, hook_candidates=1), scripted_llm(["x"]), cache_db=db) as w2:
        again = w2.write(replace(EN, user_id="u8", first_name="Ava"))
    assert again.writer == "llm" and again.cached and again.title == first.title
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT key, title FROM hook_cache").fetchall()
    assert any(t == "Face serum for a morning glow" for _, t in rows)


def test_writer_keeps_the_candidates_it_has_when_time_runs_out(scripted_llm: Scripted) -> None:
    llm = scripted_llm([hook_json("Face serum for a morning glow")], delay_s=0.4)
    with Copywriter(CFG, llm) as w:
        msg = w.write_now(EN, timeout_s=1.5)
    # Calls take 0.4 s: the fourth would end after the 1.5 s deadline, so it is not started.
    assert msg.writer == "llm" and msg.title == "Face serum for a morning glow"
    assert 2 <= llm.calls <= 3
