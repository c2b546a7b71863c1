"""Adversarial outputs a small model produces are each caught by the named rule; good copy passes."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from recsvc.copy import templates
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import check, check_text
from recsvc.copy.titles import CatalogTitles
from recsvc.copy.types import CopyRequest
from recsvc.vocabulary import CHANNELS, STAGES

CFG = CopyConfig()
EN = CopyRequest(
    user_id="u1",
    first_name="Mia",
    locale="en-US",
    stage="purchase",
    channel="app_push",
    item_id="i1",
    item_title="Trail Running Shoes",
    price=89.0,
    currency="USD",
    offer="10% off",
    item_url="https://shop.example.com/p/i1",
)
ZH = CopyRequest(
    user_id="u2",
    first_name="小林",
    locale="zh-CN",
    stage="loyal",
    channel="app_push",
    item_id="i2",
    item_title="越野跑鞋",
    price=499.0,
    currency="CNY",
    offer="9折",
)


def fields(title: str, body: str, cta: str = "Buy now") -> dict[str, str]:
    return {"title": title, "body": body, "cta": cta}


@pytest.mark.parametrize(
    ("title", "body", "req", "rule"),
    [
        ("Mia, a deal for you", "Trail Running Shoes are $79 today, 10% off.", EN, "number"),
        ("Mia, a deal for you", "Trail Running Shoes: 25% off for a limited time.", EN, "number"),
        ("Mia, a deal for you", 'Try "Cloud Runner X" with 10% off.', EN, "invented_item"),
        (
            "Mia, a deal for you",
            "Grab the Trail Running Shoes or the Nike Pegasus Trail today.",
            EN,
            "invented_item",
        ),
        ("Mia, a deal for you " * 3, "Trail Running Shoes, 10% off.", EN, "length"),
        ("Mia, a deal for you", "Trail Running Shoes, 10% off. " * 5, EN, "length"),
        ("Mia，限时优惠", "越野跑鞋现在10% off，快来买吧。", EN, "language"),
        (
            "Mia, a deal for you",
            "Questions? Call 555-123-4567 about Trail Running Shoes.",
            EN,
            "personal_data",
        ),
        (
            "Mia, a deal for you",
            "Write to mia.smith@example.org for Trail Running Shoes.",
            EN,
            "personal_data",
        ),
        ("Mia, a deal for you", "Ship Trail Running Shoes to 42 Elm Street today.", EN, "personal_data"),
        ("Mia, a deal for you", "Trail Running Shoes, 10% off at https://evil.example.net/x", EN, "link"),
        ("Mia, a deal for you", "Trail Running Shoes: guaranteed lowest price, 10% off.", EN, "banned_word"),
        ("", "Trail Running Shoes, 10% off.", EN, "empty"),
        ("Hi {name}", "Trail Running Shoes, 10% off.", EN, "placeholder"),
        ("小林，为你精选", "越野跑鞋，会员价¥399。", ZH, "number"),
        ("小林，为你精选", "Trail shoes are here for you, enjoy them today.", ZH, "language"),
        ("小林，为你精选", "越野跑鞋和《云端跑鞋》都在等你。", ZH, "invented_item"),
        ("小林，为你精选", "越野跑鞋9折，详询13812345678。", ZH, "personal_data"),
    ],
)
def test_adversarial_outputs_are_caught(title: str, body: str, req: CopyRequest, rule: str) -> None:
    assert check(fields(title, body), req, CFG) == rule


@pytest.mark.parametrize(
    ("title", "body", "cta", "req"),
    [
        ("Mia, a deal for you", "Trail Running Shoes are $89 today, 10% off.", "Buy now", EN),
        ("Don't miss out", "10% off Trail Running Shoes, limited time.", "Shop", EN),
        ("Mia, ready to run?", "Trail Running Shoes: https://shop.example.com/p/i1", "Buy now", EN),
        ("小林，为你精选", "越野跑鞋，¥499，会员享9折。", "查看推荐", ZH),
    ],
)
def test_good_outputs_pass(title: str, body: str, cta: str, req: CopyRequest) -> None:
    assert check(fields(title, body, cta), req, CFG) is None


def test_sms_needs_opt_out_note_and_fits_with_it() -> None:
    sms = CopyRequest(user_id="u", stage="interest", channel="sms", item_title="Trail Running Shoes", price=89.0)
    assert check(fields("Reviews", "See reviews of Trail Running Shoes."), sms, CFG) == "opt_out"
    ok = f"See reviews of Trail Running Shoes. {CFG.sms_opt_out_en}"
    assert check(fields("Reviews", ok), sms, CFG) is None
    too_long = f"See all the reviews and the guide for Trail Running Shoes now. {CFG.sms_opt_out_en}"
    assert check(fields("Reviews", too_long), sms, CFG) == "length"


def test_catalog_titles_catch_another_real_item() -> None:
    titles = CatalogTitles(["Toy Story (1995)", "Usual Suspects, The (1995)", "Heat (1995)", "Trail Running Shoes"])
    movie = CopyRequest(user_id="u", stage="loyal", item_title="Toy Story (1995)")
    bad = fields("Picked for you", "Loved Toy Story? Then watch The Usual Suspects next.", "Watch")
    good = fields("Picked for you", "Toy Story made your personal picks. Feel the heat!", "Watch")
    assert check(bad, movie, CFG, catalog_titles=titles) == "invented_item"
    # One-word titles like "Heat" are not indexed: they collide with ordinary words.
    assert check(good, movie, CFG, catalog_titles=titles) is None


def test_catalog_titles_know_localized_titles_and_take_the_items_own_as_its_name() -> None:
    snack_titles = ["Zenith Classic Seaweed Snack, 500g", "天顶经典海苔 500克"]
    titles = CatalogTitles([*snack_titles, "Maple Smart Action Camera, Lite", "枫叶智能运动相机 轻享版"])
    snack = CopyRequest(
        user_id="u", locale="zh-CN", stage="interest", item_title="天顶经典海苔 500克", price=35.0, currency="CNY"
    )
    own = fields("为你精选", "天顶经典海苔500克，今天就试试吧。", "去看看")
    assert check(own, snack, CFG, catalog_titles=titles) is None
    other = fields("为你精选", "天顶经典海苔和枫叶智能运动相机 轻享版一起买更划算。", "去看看")
    assert check(other, snack, CFG, catalog_titles=titles) == "invented_item"
    # Templates name the item by its title, shortened to fit, and the reason may name another item.
    snack = dataclasses.replace(snack, reason="常与枫叶智能运动相机 轻享版一起选购")
    for channel, stage in itertools.product(CHANNELS, STAGES):
        req = dataclasses.replace(snack, channel=channel, stage=stage)
        assert check(templates.render(req, CFG), req, CFG, catalog_titles=titles) is None


def test_numbers_inside_given_facts_and_thousands_separators() -> None:
    req = CopyRequest(user_id="u", item_title="iPhone 15 Pro", price=1299.0, currency="USD", offer="20% off")
    assert check(fields("Deal", "iPhone 15 Pro: $1,299, now 20% off."), req, CFG) is None
    assert check(fields("Deal", "iPhone 16 Pro: $1,299, now 20% off."), req, CFG) == "number"


def test_check_text_for_assistant_replies() -> None:
    facts = ["Trail Running Shoes ($89)", "$89", "shoes for hiking under $100"]
    titles = ["Trail Running Shoes"]
    kw = {"lang": "en-US", "facts": facts, "titles": titles, "config": CFG}
    assert check_text("Try the Trail Running Shoes ($89), great for hiking.", **kw) is None  # type: ignore[arg-type]
    assert check_text("Try the Trail Running Shoes for $59.", **kw) == "number"  # type: ignore[arg-type]
    assert check_text('Or try "Cloud Runner X".', **kw) == "invented_item"  # type: ignore[arg-type]
    assert check_text("See www.deals.com for more.", **kw) == "link"  # type: ignore[arg-type]


def test_numbers_must_keep_their_role() -> None:
    mat = CopyRequest(user_id="u", stage="awareness", item_title="Yoga Mat", price=45.0, currency="USD")
    assert check(fields("Welcome, Ava!", "45% off your first order."), mat, CFG) == "number"
    assert check(fields("Welcome, Ava!", "Start with the Yoga Mat, $45."), mat, CFG) is None
    ten = CopyRequest(user_id="u", item_title="Yoga Mat", price=45.0, currency="USD", offer="10% off")
    assert check(fields("Deal", "Yoga Mat for $10 today."), ten, CFG) == "number"


def test_price_in_another_currency_is_caught() -> None:
    from recsvc.copy.config import CopyConfig
    from recsvc.copy.guardrails import check
    from recsvc.copy.types import CopyRequest

    req = CopyRequest(
        user_id="u",
        first_name="Mason",
        locale="en-US",
        stage="loyal",
        channel="app_push",
        item_id="i1",
        item_title="Dried Mango",
        price=71.9,
        currency="CNY",
    )
    assert (
        check({"title": "Picks for you", "body": "Dried Mango, now $71.90.", "cta": "See"}, req, CopyConfig())
        == "number"
    )
    assert (
        check({"title": "Picks for you", "body": "Dried Mango, now ¥71.90.", "cta": "See"}, req, CopyConfig()) is None
    )
