"""Claims a piece of copy makes about an item, in English and Chinese.

A claim is only worth sending when its fact holds (see :mod:`recsvc.copy.facts`): "still in your
cart" for an item in no cart, "降价了" for a price that never moved, "back in stock" for an item that
was never out, "20% off" with no offer. These patterns find the claims; :mod:`recsvc.copy.sense`
compares them with the request's facts. They are deliberately broad: a false alarm sends a template,
a missed claim sends a lie.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Claim(StrEnum):
    CART = "cart"
    PRICE_DROP = "price_drop"
    RESTOCK = "restock"
    OFFER = "offer"


_I = re.IGNORECASE
# An invitation to add the item to the cart is no claim that it is there.
_ADD_TO_CART = re.compile(
    r"\badd(?:ed|ing)?\s+(?:it\s+|this\s+|them\s+)?to\s+(?:your\s+|the\s+)?(?:cart|basket|bag)\b|加入购物车|加购",
    _I,
)
_PATTERNS: dict[Claim, re.Pattern[str]] = {
    Claim.CART: re.compile(
        r"\b(?:shopping\s+)?(?:cart|basket|trolley)s?\b|\bin\s+your\s+bag\b|\bleft\s+(?:it\s+)?behind\b"
        r"|购物车|购物袋|购物篮|还在等你结算",
        _I,
    ),
    Claim.PRICE_DROP: re.compile(
        r"\bprice\s*(?:drop|cut|fell|dropped|is\s+down|went\s+down)|\bdropped\s+(?:in\s+price|to)\b|\bmarked\s+down\b"
        r"|\b(?:now\s+)?cheaper\b|\breduced\s+(?:price|to)\b|\bprice\s+reduced\b|\blower\s+price\b|\bdown\s+from\b|\bwas\s+[$€£¥]"
        r"|降价|直降|降了|价格下调|调价|原价|比之前便宜|更便宜|便宜了|跌价|跳水",
        _I,
    ),
    Claim.RESTOCK: re.compile(
        r"\bback\s+in\s+stock\b|\brestock(?:ed)?\b|\bin\s+stock\s+again\b|\bavailable\s+again\b|\bback\s+on\s+(?:the\s+)?shel"
        r"|\bsold\s+out\b|\bbefore\s+it(?:'s|\s+is)\s+gone\b|\bselling\s+fast\b|\blow\s+stock\b|\bonly\s+\w+\s+left\b"
        r"|补货|到货|重新上架|再次上架|有货了|又有货|返场|库存紧张|售罄|断货|手慢无|抢光",
        _I,
    ),
    Claim.OFFER: re.compile(
        r"\d+\s*%\s*off\b|\b(?:discount|coupon|voucher|promo(?:tion)?|promo\s+code|deal|deals|sale|clearance)s?\b"
        r"|\bsave\s+(?:\d|up\s+to|big|more)|(?<![-\w])free\b(?!-)|\blimited[-\s]time\b|\boffer\b"
        r"|\bbogo\b|\bbuy\s+one\s+get\b|\bspecial\s+price\b"
        r"|优惠|折扣|打折|免费|赠|\d+(?:\.\d+)?\s*折|满减|满\d+|立减|减\d+|券|红包|特价|特惠|促销|秒杀|限时|包邮|买一送一|让利|低价",
        _I,
    ),
}


def claims_in(text: str) -> set[Claim]:
    """The claims ``text`` makes (see :class:`Claim`)."""
    found = set()
    for claim, pattern in _PATTERNS.items():
        probe = _ADD_TO_CART.sub(" ", text) if claim is Claim.CART else text
        if pattern.search(probe):
            found.add(claim)
    return found
