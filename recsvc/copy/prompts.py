"""Prompts per stage x trigger x channel x locale, in two modes, and parsers for what comes back.

``completion`` mode is few-shot for base models (the embedded Gemma 3 270M): worked examples in a
rigid ``Title:/Body:/CTA:/###`` format, then the new facts, and the model continues the pattern.
``chat`` mode asks an instruct model for JSON. Both carry the same content strategy and facts.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields, channel_limits, opt_out_note
from recsvc.copy.numbers import format_price
from recsvc.copy.types import CopyRequest

logger = logging.getLogger(__name__)

NAME_SLOT = "{name}"
CITY_SLOT = "{city}"
STOP = ("###", "\n\n", "Facts:", "事实：")

# The content strategy per lifecycle stage.
STRATEGY: dict[str, dict[str, str]] = {
    "en-US": {
        "awareness": "welcome the new user and invite a first order (mention the first-order offer if given)",
        "interest": "point to reviews and a quick how-to guide for the item",
        "purchase": "remind about the cart or a time-limited discount",
        "loyal": "a personal pick and a member perk",
        "churning": "win the user back with the offer, or ask for feedback",
    },
    "zh-CN": {
        "awareness": "欢迎新用户，邀请完成首单（如有首单优惠请提及）",
        "interest": "介绍商品的真实评价和上手教程",
        "purchase": "提醒购物车或限时优惠",
        "loyal": "专属推荐和会员福利",
        "churning": "用优惠召回用户，或邀请填写反馈",
    },
}
TRIGGER_HINT: dict[str, dict[str, str]] = {
    "en-US": {
        "scheduled": "",
        "purchase_completed": "the user just completed an order; thank them",
        "cart_idle": "the item has been waiting in the cart",
        "geo_enter": "the user is near a store in the city",
        "app_open": "the user just opened the app",
        "survey": "",
    },
    "zh-CN": {
        "scheduled": "",
        "purchase_completed": "用户刚完成订单，先致谢",
        "cart_idle": "商品在购物车里放了一段时间",
        "geo_enter": "用户就在这座城市的门店附近",
        "app_open": "用户刚打开应用",
        "survey": "",
    },
}
# Goals that suggest a cart or an offer, said without them when the reader has neither (the model
# writes whatever the goal suggests, true or not).
GOAL_WITHOUT_CART_OR_OFFER: dict[str, dict[str, str]] = {
    "en-US": {
        "purchase": "help the user decide to order the item",
        "churning": "invite the user back to see the item, or ask for feedback",
    },
    "zh-CN": {
        "purchase": "帮用户下决心购买这件商品",
        "churning": "邀请用户回来看看这件商品，或邀请填写反馈",
    },
}
# What holds for this reader (recsvc.copy.facts), told to the model only when it does.
FACT_HINT: dict[str, dict[str, str]] = {
    "en-US": {
        "cart": "the item is in the user's cart",
        "price_drop": "the price dropped from {was}",
        "restock": "the item is back in stock",
    },
    "zh-CN": {"cart": "商品在用户的购物车里", "price_drop": "已降价，原价{was}", "restock": "商品已补货"},
}
CHANNEL_NAME = {
    "en-US": {"app_push": "push", "sms": "sms", "email": "email", "in_app": "in-app"},
    "zh-CN": {"app_push": "推送", "sms": "短信", "email": "邮件", "in_app": "站内信"},
}


@dataclass(frozen=True)
class Example:
    stage: str
    item: str
    price: str
    offer: str
    title: str
    body: str
    sms_body: str
    cta: str


EXAMPLES: dict[str, tuple[Example, ...]] = {
    "en-US": (
        Example(
            "awareness",
            "Linen Throw Pillow",
            "$24",
            "15% off",
            "Welcome, {name}!",
            "Start with the Linen Throw Pillow: 15% off your first order.",
            "Welcome! Linen Throw Pillow, 15% off.",
            "Shop now",
        ),
        Example(
            "interest",
            "Trail Running Shoes",
            "$89",
            "",
            "{name}, see the reviews",
            "Runners love the Trail Running Shoes. Read the reviews and fit guide.",
            "See reviews of Trail Running Shoes.",
            "Read reviews",
        ),
        Example(
            "purchase",
            "Ceramic Pour-Over Set",
            "$35",
            "10% off",
            "Still thinking, {name}?",
            "The Ceramic Pour-Over Set is waiting: 10% off for a limited time.",
            "Pour-Over Set: 10% off, limited time.",
            "Buy now",
        ),
        Example(
            "loyal",
            "Wool Beanie",
            "$19",
            "",
            "Picked for you, {name}",
            "A new pick for members like you: the Wool Beanie, $19.",
            "Picked for you: Wool Beanie, $19.",
            "See picks",
        ),
        Example(
            "churning",
            "Bamboo Cutting Board",
            "$28",
            "20% off",
            "We miss you, {name}",
            "Come back for 20% off the Bamboo Cutting Board.",
            "We miss you! 20% off Cutting Board.",
            "Come back",
        ),
    ),
    "zh-CN": (
        Example(
            "awareness",
            "亚麻抱枕",
            "¥99",
            "首单9折",
            "{name}，欢迎你！",
            "从亚麻抱枕开始吧，首单9折。",
            "欢迎！亚麻抱枕首单9折。",
            "立即选购",
        ),
        Example(
            "interest",
            "越野跑鞋",
            "¥499",
            "",
            "{name}，看看评价",
            "越野跑鞋的真实评价和选码指南都在这里。",
            "越野跑鞋评价与指南。",
            "查看评价",
        ),
        Example(
            "purchase",
            "手冲咖啡套装",
            "¥199",
            "立减20元",
            "{name}，还在考虑吗？",
            "手冲咖啡套装限时立减20元，别错过。",
            "手冲咖啡套装限时立减20元。",
            "去结算",
        ),
        Example(
            "loyal",
            "羊毛帽",
            "¥129",
            "",
            "{name}，为你精选",
            "会员专属推荐：羊毛帽，¥129。",
            "为你精选：羊毛帽，¥129。",
            "查看推荐",
        ),
        Example(
            "churning",
            "竹制砧板",
            "¥89",
            "8折",
            "{name}，好久不见",
            "回来看看吧，竹制砧板享8折。",
            "好久不见！竹制砧板8折。",
            "回来看看",
        ),
    ),
}
_EXAMPLE_NAMES = {
    "en-US": ("Mia", "Leo", "Ava", "Sam", "Noah"),
    "zh-CN": ("小林", "阿杰", "晓雨", "子涵", "明明"),
}


def body_limit(req: CopyRequest, config: CopyConfig) -> int:
    """Characters the writer may use for the body (SMS leaves room for the opt-out note)."""
    _, body_max = channel_limits(req.channel, config)
    if req.channel == "sms":
        return body_max - len(opt_out_note(req.lang, config)) - 1
    return body_max


def facts(req: CopyRequest, config: CopyConfig, *, shared: bool) -> dict[str, str]:
    """The facts line; ``shared`` puts slots where the name and city go so one text serves many users."""
    loc = req.lang
    name = NAME_SLOT if shared else req.first_name.strip()
    city = (CITY_SLOT if shared else req.city.strip()) if req.city.strip() else ""
    goal = STRATEGY[loc][req.stage]
    if not req.in_cart and not (req.offer or "").strip():
        goal = GOAL_WITHOUT_CART_OR_OFFER[loc].get(req.stage, goal)
    hints = [FACT_HINT[loc]["cart"]] if req.in_cart else []
    if req.price_dropped_from is not None:
        was = format_price(req.price_dropped_from, req.currency, loc)
        hints.append(FACT_HINT[loc]["price_drop"].format(was=was))
    if req.back_in_stock:
        hints.append(FACT_HINT[loc]["restock"])
    out = {
        "channel": CHANNEL_NAME[loc][req.channel],
        "goal": goal,
        # An idle cart is only a moment worth naming when the item is in it.
        "moment": "" if req.trigger == "cart_idle" and not req.in_cart else TRIGGER_HINT[loc][req.trigger],
        "news": ("; " if loc == "en-US" else "；").join(hints),
        "name": name,
        "item": " ".join(req.item_title.split())[:80],
        "price": format_price(req.price, req.currency, loc),
        "offer": (req.offer or "").strip(),
        "city": city if req.trigger == "geo_enter" else "",
        # A reason is about one user ("you bought X"): it must not leak into copy shared by many.
        "reason": "" if shared else req.reason.strip()[:120],
    }
    return {k: v for k, v in out.items() if v}


def _facts_line(f: dict[str, str]) -> str:
    return "Facts: " + "; ".join(f"{k}={v}" for k, v in f.items())


def completion_prompt(req: CopyRequest, config: CopyConfig, *, shared: bool) -> str:
    """Few-shot prompt ending in ``Title:`` so even a small base model continues in the format."""
    loc = req.lang
    language = "Chinese (简体中文)" if loc == "zh-CN" else "English"
    # No per-channel numbers here: the header must be identical across requests (see below).
    header = f"Short {language} marketing messages for a shopping app, using only the facts.\n\n"
    # A fixed prefix (header + examples) per locale and channel lets llama.cpp reuse its KV cache
    # across requests, so only the facts line is evaluated: that is most of the CPU time saved.
    shots = list(EXAMPLES[loc])
    names = _EXAMPLE_NAMES[loc]
    parts = [header]
    for i, ex in enumerate(shots):
        nm = NAME_SLOT if shared else names[i % len(names)]
        ex_f = {
            "channel": CHANNEL_NAME[loc]["sms" if req.channel == "sms" else "app_push"],
            "goal": STRATEGY[loc][ex.stage],
            "name": nm,
            "item": ex.item,
            "price": ex.price,
            "offer": ex.offer,
        }
        body = ex.sms_body if req.channel == "sms" else ex.body
        parts.append(
            _facts_line({k: v for k, v in ex_f.items() if v})
            + f"\nTitle: {ex.title.replace(NAME_SLOT, nm)}\nBody: {body}\nCTA: {ex.cta}\n###\n"
        )
    parts.append(_facts_line(facts(req, config, shared=shared)) + "\nTitle:")
    return "".join(parts)


def chat_messages(req: CopyRequest, config: CopyConfig, *, shared: bool) -> list[dict[str, str]]:
    """System + user messages asking an instruct model for one JSON object."""
    loc = req.lang
    title_max, _ = channel_limits(req.channel, config)
    blim = body_limit(req, config)
    lang = "Simplified Chinese" if loc == "zh-CN" else "English"
    slot_rule = (
        f" Write the user's name exactly as {NAME_SLOT}" + (f" and the city as {CITY_SLOT}" if req.city else "") + "."
        if shared
        else ""
    )
    system = (
        "You write short marketing messages for a shopping app. "
        f"Write in {lang}. Reply with only a JSON object: "
        '{"title": "...", "body": "...", "cta": "..."}. '
        f"Title at most {title_max} characters, body at most {blim}, cta at most {config.cta_max}. "
        "Use only the facts given: no other products, prices, numbers, links, phone numbers or personal data."
        + slot_rule
    )
    f = facts(req, config, shared=shared)
    user = "\n".join(f"{k}: {v}" for k, v in f.items())
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_FIELD = re.compile(r"^\s*(title|body|cta)\s*[:：]\s*(.*)$", re.IGNORECASE)


def parse_completion(text: str) -> Fields | None:
    """First well-formed Title/Body/CTA block of a continuation (the prompt ended in ``Title:``)."""
    block = ("Title:" + text).split("###", 1)[0]
    got: dict[str, str] = {}
    for line in block.splitlines():
        m = _FIELD.match(line)
        if m:
            key = m.group(1).lower()
            if key in got:
                break
            got[key] = m.group(2).strip()
        elif got and line.strip():
            break
    if not got.get("title") or not got.get("body"):
        return None
    return Fields(title=got["title"], body=got["body"], cta=got.get("cta", ""))


def parse_chat(text: str) -> Fields | None:
    """First JSON object with title and body (tolerates code fences), else the Title:/Body: format."""
    cleaned = re.sub(r"```(?:json)?", "", text)
    start = cleaned.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(cleaned)):
            if cleaned[i] == "{":
                depth += 1
            elif cleaned[i] == "}":
                depth -= 1
                if depth == 0:
                    try:
                        obj = json.loads(cleaned[start : i + 1])
                    except json.JSONDecodeError:
                        break
                    if isinstance(obj, dict) and obj.get("title") and obj.get("body"):
                        return Fields(
                            title=str(obj["title"]).strip(),
                            body=str(obj["body"]).strip(),
                            cta=str(obj.get("cta", "")).strip(),
                        )
                    break
        start = cleaned.find("{", start + 1)
    stripped = cleaned.strip()
    if stripped.lower().startswith("title"):
        return parse_completion(stripped.split(":", 1)[1] if ":" in stripped else stripped)
    return None
