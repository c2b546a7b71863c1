"""Sense rules: claims checked against the reader's facts, the item named, no prompt echo, the
reader's language, on topic; wired into the guardrails, and never failed by a template."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from recsvc.copy import templates
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import RULES, check
from recsvc.copy.sense import SENSE_RULES, check_copy, item_named
from recsvc.copy.types import CopyRequest
from recsvc.vocabulary import CHANNELS, LOCALES, STAGES, TRIGGERS

CFG = CopyConfig()
EN = CopyRequest(
    user_id="u1",
    first_name="Mia",
    locale="en-US",
    stage="purchase",
    trigger="cart_idle",
    item_id="i1",
    item_title="Pebble Natural Cycling Helmet, 6mm",
    price=354.9,
    currency="USD",
    item_category="Sports & Outdoors",
)
ZH = dataclasses.replace(EN, first_name="子涵", locale="zh-CN", item_title="鹅卵石天然骑行头盔 6mm", currency="CNY")


@pytest.mark.parametrize(
    ("req", "title", "body", "rule"),
    [
        (EN, "Mia, your cart is waiting", "Pebble Natural Cycling Helmet is still in your cart.", "cart_claim"),
        (ZH, "子涵，购物车还在等你", "鹅卵石天然骑行头盔还在购物车里。", "cart_claim"),
        (EN, "Price drop", "Pebble Natural Cycling Helmet is cheaper now.", "price_drop_claim"),
        (ZH, "降价了", "鹅卵石天然骑行头盔降价了。", "price_drop_claim"),
        (EN, "Back in stock", "Pebble Natural Cycling Helmet is back in stock.", "restock_claim"),
        (ZH, "补货到了", "鹅卵石天然骑行头盔补货到了。", "restock_claim"),
        (EN, "A deal for you", "Pebble Natural Cycling Helmet, 20% off today.", "offer_claim"),
        (ZH, "限时优惠", "鹅卵石天然骑行头盔限时优惠。", "offer_claim"),
        (ZH, "80个可爱的小可爱。", "洋，选购 | 优选：选购。", "item_not_named"),
        (EN, "Hi Mia", "Something nice is waiting for you.", "item_not_named"),
        (ZH, "子涵，欢迎回来", "鹅卵石天然骑行头盔，用户刚打开应用", "prompt_echo"),
        (EN, "Hi Mia", "Pebble Natural Cycling Helmet: the user just opened the app", "prompt_echo"),
        (ZH, "Hello Mia", "Check out the Pebble Natural Cycling Helmet", "language"),
        (EN, "米娅你好", "鹅卵石天然骑行头盔在这里 Pebble Natural Cycling Helmet", "language"),
        (ZH, "子涵，扫码扫码", "鹅卵石天然骑行头盔，来尝尝", "off_topic"),
    ],
)
def test_each_rule_catches_its_failure(req: CopyRequest, title: str, body: str, rule: str) -> None:
    assert rule in check_copy(req, title, body)
    assert check(dict(title=title, body=body), req, CFG) is not None


def test_claims_pass_when_their_facts_hold() -> None:
    in_cart = dataclasses.replace(EN, in_cart=True)
    body_en = "Pebble Natural Cycling Helmet is still in your cart."
    assert check_copy(in_cart, "Mia, your cart is waiting", body_en) == []
    zh_all = dataclasses.replace(ZH, in_cart=True, price_dropped_from=399.0, back_in_stock=True, offer="满300减30")
    body = "鹅卵石天然骑行头盔还在购物车里，已降价并补货，满300减30。"
    assert check_copy(zh_all, "子涵，购物车还在等你", body) == []
    assert check(dict(title="子涵，购物车还在等你", body=body), zh_all, CFG) is None
    cart_only = dataclasses.replace(ZH, in_cart=True)
    assert check_copy(cart_only, "子涵，购物车还在等你", body) == ["price_drop_claim", "restock_claim", "offer_claim"]


def test_the_item_is_named_by_its_title_or_a_recognisable_part() -> None:
    assert item_named("Pebble Natural Cycling Helmet, 6mm", "Your Pebble helmet is ready")
    assert item_named("Pebble Natural Cycling Helmet, 6mm", "Pebble Natural Cycling…, a great pick")
    assert not item_named("Pebble Natural Cycling Helmet, 6mm", "A helmet for you")
    assert item_named("Toy Story (1995)", "Watch Toy Story tonight")
    assert not item_named("Toy Story (1995)", "A story for tonight")
    assert item_named("Heat", "Heat is on")
    assert item_named("竹语经典眼霜 旅行装", "竹语经典眼…，为你精选")
    assert item_named("竹语经典眼霜 旅行装", "试试经典眼霜吧")
    assert not item_named("竹语经典眼霜 旅行装", "旅行装好物推荐")
    assert not item_named("竹语经典眼霜 旅行装", "80个可爱的小可爱。")


def test_food_words_are_on_topic_for_food() -> None:
    tea = dataclasses.replace(ZH, item_title="西湖龙井", item_category="咖啡茶饮")
    assert check_copy(tea, "子涵，新茶到了", "西湖龙井，来尝尝") == []


def test_sense_rules_are_guardrail_rules() -> None:
    assert set(SENSE_RULES) <= set(RULES)


TITLES = ["Toy Story (1995)", "Pebble Natural Cycling Helmet, 6mm", "鹅卵石天然骑行头盔 6mm", "Tea"]
FACTS: list[dict[str, Any]] = [
    {},
    {"in_cart": True},
    {"price_dropped_from": 499.0},
    {"back_in_stock": True},
    {"in_cart": True, "price_dropped_from": 499.0, "back_in_stock": True},
]


@pytest.mark.parametrize(("stage", "locale"), list(itertools.product(STAGES, LOCALES)))
def test_templates_claim_only_what_holds(stage: str, locale: str) -> None:
    for trigger, channel, title, fact, (price, offer) in itertools.product(
        TRIGGERS, CHANNELS, TITLES, FACTS, [(None, None), (354.9, None), (354.9, "20% off")]
    ):
        if "price_dropped_from" in fact and price is None:
            continue
        req = CopyRequest(
            user_id="u1",
            first_name="Mia" if locale == "en-US" else "子涵",
            locale=locale,
            stage=stage,
            trigger=trigger,
            channel=channel,
            item_id="i1",
            item_title=title,
            price=price,
            currency="USD",
            offer=offer,
            city="Shanghai" if trigger == "geo_enter" else "",
            **fact,
        )
        f = templates.render(req, CFG)
        assert check(f, req, CFG) is None, (req, f)
        text = f"{f.title} {f.body}"
        if trigger == "cart_idle" and fact.get("in_cart") and channel != "email":
            assert ("cart" in text) if locale == "en-US" else ("购物车" in text), (req, f)
        if not fact.get("in_cart"):
            assert "cart" not in text.lower() and "购物车" not in text, (req, f)


def test_cart_idle_template_for_an_empty_cart_is_the_stages_copy() -> None:
    for locale, name in (("en-US", "Mia"), ("zh-CN", "子涵")):
        req = dataclasses.replace(EN, locale=locale, first_name=name, stage="purchase", trigger="cart_idle")
        f = templates.render(req, CFG, seed=1)
        assert "cart" not in f.text.lower() and "购物车" not in f.text
        in_cart = templates.render(dataclasses.replace(req, in_cart=True), CFG, seed=1)
        assert ("cart" in in_cart.text) if locale == "en-US" else ("购物车" in in_cart.text)
