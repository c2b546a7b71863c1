"""Claims found in copy, in English and Chinese, and what is no claim."""

from __future__ import annotations

import pytest

from recsvc.copy.claims import Claim, claims_in


@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("Mia, your cart is waiting", {Claim.CART}),
        ("Trail Running Shoes are still in your basket.", {Claim.CART}),
        ("子涵，购物车还在等你", {Claim.CART}),
        ("手冲咖啡套装还在购物车里", {Claim.CART}),
        ("Price drop: Wool Beanie, now $15.", {Claim.PRICE_DROP}),
        ("Wool Beanie is now $15, down from $19.", {Claim.PRICE_DROP}),
        ("羊毛帽降价了，现价¥99。", {Claim.PRICE_DROP}),
        ("羊毛帽直降30元", {Claim.PRICE_DROP}),
        ("Good news: Wool Beanie is back in stock.", {Claim.RESTOCK}),
        ("Wool Beanie was restocked today", {Claim.RESTOCK}),
        ("羊毛帽补货到了", {Claim.RESTOCK}),
        ("羊毛帽到货啦，快来看看", {Claim.RESTOCK}),
        ("20% off the Wool Beanie", {Claim.OFFER}),
        ("A limited-time deal on Wool Beanie", {Claim.OFFER}),
        ("羊毛帽限时优惠", {Claim.OFFER}),
        ("羊毛帽8折", {Claim.OFFER}),
        ("满200减30，羊毛帽", {Claim.OFFER}),
        ("羊毛帽享折扣", {Claim.OFFER}),
        ("浩然，用优惠召回用户，或邀请填写反馈", {Claim.OFFER}),
        ("奇异超能普洱茶享赠礼，免费饮品。", {Claim.OFFER}),
        ("Free shipping on the Wool Beanie", {Claim.OFFER}),
    ],
)
def test_claims_are_found_in_both_languages(text: str, claims: set[Claim]) -> None:
    assert claims_in(text) == claims


@pytest.mark.parametrize(
    "text",
    [
        "Picked for you: Wool Beanie. Thanks for being a member.",
        "Add it to your cart before you go",
        "加入购物车，随时下单",
        "看看大家怎么评价羊毛帽，附上手教程。",
        "小米无线蓝牙降噪耳机，为你精选",  # 降噪 (noise cancelling) is no price drop
        "We miss you, Mia. Come back and see Wool Beanie.",
        "Reduced noise, full sound: the Pebble headphones",
        "Hands-free calls with the Pebble headset, sugar-free gum not included",
    ],
)
def test_ordinary_copy_makes_no_claim(text: str) -> None:
    assert claims_in(text) == set()
