"""Template library: stage x channel x locale copy that always fits and always passes the guardrails.

Templates are the floor under the LLM: they answer instantly when the model is slow, down or wrong,
so each one only uses the request's facts and shortens the item title to fit the channel.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass

from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields, channel_limits, opt_out_note
from recsvc.copy.numbers import format_price
from recsvc.copy.titles import CJK
from recsvc.copy.types import CopyRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageTemplates:
    """Copy variants for one stage and locale; {name} {item} {price} {offer} {city} are filled in."""

    titles_name: tuple[str, ...]
    titles: tuple[str, ...]
    offer: tuple[str, ...]
    price: tuple[str, ...]
    plain: tuple[str, ...]
    sms_offer: tuple[str, ...]
    sms_price: tuple[str, ...]
    sms_plain: tuple[str, ...]
    subjects: tuple[str, ...]
    cta: tuple[str, ...]


EN: dict[str, StageTemplates] = {
    # awareness -> welcome + first-order offer
    "awareness": StageTemplates(
        titles_name=("Welcome, {name}!", "Hi {name}, welcome!", "Nice to meet you, {name}"),
        titles=("Welcome aboard!", "Welcome in!", "Glad you're here"),
        offer=(
            "Start with {item}: {offer} on your first order.",
            "Your first order: {item} with {offer}.",
            "New here? Get {offer} on {item} with your first order.",
        ),
        price=(
            "Start with {item}, just {price}. Your first pick is waiting.",
            "Meet {item} at {price}, a great first order.",
            "New here? {item} is {price} and ready for your first order.",
        ),
        plain=(
            "Start exploring with {item}, a favorite with new members.",
            "Your first pick could be {item}. Take a look.",
            "New here? Begin with {item}.",
        ),
        sms_offer=("Welcome! {offer} on {item}, first order.", "Welcome! First order: {item}, {offer}."),
        sms_price=("Welcome! {item} for {price}.", "Welcome! Start with {item}, {price}."),
        sms_plain=("Welcome! Start with {item}.", "Welcome! Try {item} first."),
        subjects=("Welcome, {name}: your first order starts here", "Welcome! Your first pick is waiting"),
        cta=("Start shopping", "Take a look"),
    ),
    # interest -> tutorials and reviews
    "interest": StageTemplates(
        titles_name=("{name}, see how it works", "{name}, read the reviews"),
        titles=("Reviews are in", "Get the most from it", "A quick how-to for you"),
        offer=(
            "See reviews of {item} and a quick how-to. {offer} today.",
            "Curious about {item}? Read the reviews, then enjoy {offer}.",
        ),
        price=(
            "See reviews and a quick how-to for {item} ({price}).",
            "Curious about {item}? Read what buyers say. Now {price}.",
        ),
        plain=(
            "See reviews of {item}, plus a quick how-to guide.",
            "Curious about {item}? Read the reviews and tips.",
        ),
        sms_offer=("Reviews + tips for {item}. {offer} today.", "Read reviews of {item}: {offer}."),
        sms_price=("Reviews + tips for {item}, {price}.", "Read reviews of {item}, now {price}."),
        sms_plain=("Reviews + tips for {item}.", "See reviews of {item}."),
        subjects=("{name}, what buyers say about {item}", "Reviews and a how-to for {item}"),
        cta=("Read reviews", "See the guide"),
    ),
    # purchase -> cart reminder or time-limited discount
    "purchase": StageTemplates(
        titles_name=("{name}, ready when you are", "{name}, don't miss this"),
        titles=("Ready when you are", "Don't miss out", "Still deciding?"),
        offer=(
            "{offer} on {item}, for a limited time only.",
            "Limited time: {item} with {offer}.",
        ),
        price=(
            "{item} is {price} right now. Don't miss it.",
            "Ready to order? {item} is {price} today.",
        ),
        plain=("{item} is ready when you are.", "Ready to order {item}? It's waiting for you."),
        sms_offer=("{offer} on {item}, limited time.", "Limited time: {item}, {offer}."),
        sms_price=("{item} is {price} today.", "Ready? {item}, {price}."),
        sms_plain=("{item} is ready when you are.", "Ready to order {item}?"),
        subjects=("{name}, {item} is ready when you are", "Don't miss {item}"),
        cta=("Buy now", "Order now"),
    ),
    # loyal -> personal picks and member perks
    "loyal": StageTemplates(
        titles_name=("Picked for you, {name}", "{name}, a member perk"),
        titles=("Your personal pick", "A member perk for you", "Chosen for you"),
        offer=(
            "As a member, get {offer} on {item}.",
            "A member perk: {item} with {offer}, picked for you.",
        ),
        price=(
            "{item} ({price}) is a new pick chosen for you.",
            "Picked for you: {item}, {price}. Thanks for being a member.",
        ),
        plain=("{item} made your personal picks.", "Picked for you: {item}. Thanks for being a member."),
        sms_offer=("Member perk: {offer} on {item}.", "For you: {item}, {offer}."),
        sms_price=("Picked for you: {item}, {price}.", "For you: {item}, {price}."),
        sms_plain=("Picked for you: {item}.", "A new pick for you: {item}."),
        subjects=("{name}, your member pick: {item}", "Picked for you: {item}"),
        cta=("See your picks", "View pick"),
    ),
    # churning -> win-back offer or feedback survey
    "churning": StageTemplates(
        titles_name=("We miss you, {name}", "{name}, come back soon"),
        titles=("We miss you", "How are we doing?", "Come back for something new"),
        offer=(
            "Come back to {offer} on {item}.",
            "We saved {offer} on {item} for your return.",
        ),
        price=(
            "{item} is here for {price} when you're ready.",
            "Come back and see {item}, now {price}.",
        ),
        plain=(
            "Share feedback so we can do better, and see {item} while you're here.",
            "Come back and see {item}. We'd love your feedback too.",
        ),
        sms_offer=("We miss you! {offer} on {item}.", "Come back: {item}, {offer}."),
        sms_price=("We miss you! {item}, {price}.", "Come back: {item}, {price}."),
        sms_plain=("We miss you! See {item}.", "Tell us how we did. See {item}."),
        subjects=("We miss you, {name}", "Come back to {item}"),
        cta=("Come back", "Share feedback"),
    ),
}

ZH: dict[str, StageTemplates] = {
    "awareness": StageTemplates(
        titles_name=("{name}，欢迎你！", "欢迎你，{name}"),
        titles=("欢迎加入！", "很高兴认识你"),
        offer=("首单专享：{item}享{offer}。", "新人福利：首单购买{item}享{offer}。"),
        price=("新人首选：{item}，仅{price}。", "从{item}开始吧，{price}即可入手。"),
        plain=("从{item}开始你的第一次选购吧。", "新人推荐：{item}，快来看看。"),
        sms_offer=("欢迎！首单{item}享{offer}。", "新人福利：{item}享{offer}。"),
        sms_price=("欢迎！{item}仅{price}。", "新人推荐：{item}，{price}。"),
        sms_plain=("欢迎！从{item}开始选购吧。", "新人推荐：{item}。"),
        subjects=("{name}，欢迎你！首单从这里开始", "欢迎加入，你的第一件好物在等你"),
        cta=("立即选购", "去看看"),
    ),
    "interest": StageTemplates(
        titles_name=("{name}，看看使用指南", "{name}，真实评价来了"),
        titles=("真实评价来了", "上手教程送给你"),
        offer=("{item}的评价和使用教程都在这里，今天享{offer}。", "想了解{item}？先看评价，再享{offer}。"),
        price=("看看{item}（{price}）的真实评价和上手教程。", "想了解{item}？看看买家怎么说，现价{price}。"),
        plain=("看看大家怎么评价{item}，附上手教程。", "想了解{item}？评价和使用技巧都在这里。"),
        sms_offer=("{item}评价与教程，今天享{offer}。", "看看{item}的评价：{offer}。"),
        sms_price=("{item}评价与教程，现价{price}。", "看看{item}的评价，{price}。"),
        sms_plain=("{item}的评价与教程来了。", "看看{item}的真实评价。"),
        subjects=("{name}，看看大家怎么评价{item}", "{item}的评价与上手教程"),
        cta=("查看评价", "看看教程"),
    ),
    "purchase": StageTemplates(
        titles_name=("{name}，别错过", "{name}，随时可以下单"),
        titles=("别错过好物", "随时可以下单", "还在考虑吗？"),
        offer=("{item}限时享{offer}，别错过。", "限时福利：{item}享{offer}。"),
        price=("{item}现价{price}，别错过。", "准备好下单了吗？{item}今天{price}。"),
        plain=("{item}随时等你下单。", "准备好下单{item}了吗？"),
        sms_offer=("{item}限时享{offer}。", "限时：{item}享{offer}。"),
        sms_price=("{item}今天{price}。", "{item}现价{price}。"),
        sms_plain=("{item}随时等你下单。", "准备好下单{item}了吗？"),
        subjects=("{name}，{item}随时等你下单", "别错过{item}"),
        cta=("立即购买", "去下单"),
    ),
    "loyal": StageTemplates(
        titles_name=("{name}，为你精选", "{name}，会员专属福利"),
        titles=("为你精选", "会员专属福利"),
        offer=("会员专享：{item}享{offer}。", "会员福利：为你精选{item}，享{offer}。"),
        price=("为你精选{item}，{price}。", "专属推荐：{item}，{price}。感谢一路相伴。"),
        plain=("{item}已加入你的专属推荐。", "为你精选：{item}。感谢一路相伴。"),
        sms_offer=("会员专享：{item}享{offer}。", "为你精选{item}，享{offer}。"),
        sms_price=("为你精选：{item}，{price}。", "专属推荐：{item}，{price}。"),
        sms_plain=("为你精选：{item}。", "专属推荐：{item}。"),
        subjects=("{name}，你的会员专属推荐：{item}", "为你精选：{item}"),
        cta=("查看推荐", "看看精选"),
    ),
    "churning": StageTemplates(
        titles_name=("{name}，好久不见", "{name}，我们想你了"),
        titles=("好久不见", "我们想你了", "说说你的想法"),
        offer=("回来看看吧：{item}享{offer}。", "为你留了{offer}，{item}等你回来。"),
        price=("{item}现在只要{price}，欢迎回来。", "回来看看{item}吧，现价{price}。"),
        plain=("告诉我们如何做得更好，顺便看看{item}。", "回来看看{item}吧，也欢迎留下你的反馈。"),
        sms_offer=("好久不见！{item}享{offer}。", "欢迎回来：{item}享{offer}。"),
        sms_price=("好久不见！{item}，{price}。", "欢迎回来：{item}，{price}。"),
        sms_plain=("好久不见！看看{item}。", "说说你的想法，看看{item}。"),
        subjects=("{name}，好久不见", "回来看看{item}"),
        cta=("回来看看", "填写反馈"),
    ),
}

# Trigger-specific titles override the stage titles where the moment matters more than the stage;
# the cart_idle ones only for an item in the reader's cart (see ``_facts_lead``).
TRIGGER_TITLES: dict[str, dict[str, tuple[str, ...]]] = {
    "en-US": {
        "purchase_completed": ("Thanks for your order!", "Thanks, {name}!"),
        "cart_idle": ("Still in your cart", "{name}, your cart is waiting"),
        "geo_enter": ("Near you in {city}", "Hello, {city}!"),
    },
    "zh-CN": {
        "purchase_completed": ("感谢你的订单！", "{name}，谢谢你！"),
        "cart_idle": ("购物车还在等你", "{name}，购物车还在等你"),
        "geo_enter": ("{city}附近的好物", "你好，{city}！"),
    },
}

CART_BODIES: dict[str, dict[str, tuple[str, ...]]] = {
    "en-US": {
        "offer": ("{item} is still in your cart. {offer}, limited time.",),
        "price": ("{item} is still in your cart at {price}.",),
        "plain": ("{item} is still waiting in your cart.",),
        "sms": ("{item} is still in your cart.",),
    },
    "zh-CN": {
        "offer": ("{item}还在购物车里，限时享{offer}。",),
        "price": ("{item}还在购物车里，现价{price}。",),
        "plain": ("{item}还在你的购物车里。",),
        "sms": ("{item}还在购物车里。",),
    },
}

# Lines for facts that hold for this reader (recsvc.copy.facts), used only when they do: {was} is
# the price before the drop.
FACT_TITLES: dict[str, dict[str, tuple[str, ...]]] = {
    "en-US": {
        "price_drop": ("Price drop", "{name}, now for less"),
        "restock": ("Back in stock", "{name}, it's back in stock"),
    },
    "zh-CN": {
        "price_drop": ("降价了", "{name}，降价了"),
        "restock": ("补货到了", "{name}，补货到了"),
    },
}
FACT_BODIES: dict[str, dict[str, tuple[str, ...]]] = {
    "en-US": {
        "price_drop": ("{item} is now {price}, down from {was}.", "Price drop: {item}, now {price}."),
        "restock": ("{item} is back in stock.", "Good news: {item} is back in stock."),
    },
    "zh-CN": {
        "price_drop": ("{item}降价了，现价{price}，原价{was}。", "{item}降价了，现价{price}。"),
        "restock": ("{item}补货到了，现在可以下单。", "好消息：{item}已补货。"),
    },
}

REASON_LINE = {"en-US": " Why this pick: {reason}.", "zh-CN": "推荐理由：{reason}。"}
NAME_FALLBACK = {"en-US": "there", "zh-CN": "你好"}


def library(locale: str) -> dict[str, StageTemplates]:
    return ZH if locale == "zh-CN" else EN


def shorten(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` at a word boundary with an ellipsis; never split a number."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return text[:max_chars]
    # Drop trailing '(1995)'-style qualifiers first: they cost room and add numbers.
    bare = re.sub(r"\s*[(\[（【][^)\]）】]*[)\]）】]\s*$", "", text).strip()
    if bare and len(bare) <= max_chars:
        return bare
    text = bare or text
    room = max_chars - 1
    cut = text[:room]
    if not CJK.search(cut) and " " in cut and text[room : room + 1] not in ("", " "):
        cut = cut[: cut.rfind(" ")]
    # Never end inside a number or a bracket group.
    cut = re.sub(r"\d+[.,]?$", "", cut) if text[len(cut) : len(cut) + 1].isdigit() else cut
    cut = re.sub(r"[\s(\[（【,.;:，。；：、&+\-/]+$", "", cut)
    if cut.count("(") > cut.count(")"):
        cut = cut[: cut.rfind("(")].rstrip()
    return (cut + "…") if cut else text[:room] + "…"


def _pick(options: tuple[str, ...], seed: int) -> list[str]:
    """Options rotated to start at the seeded one: first choice varies, the rest are fallbacks."""
    if not options:
        return []
    k = seed % len(options)
    return list(options[k:] + options[:k])


def _fill(fmt: str, values: dict[str, str], item_room: int | None) -> str | None:
    """Fill ``fmt``; when ``item_room`` is set, shorten the item name so the result fits it."""
    if "{city}" in fmt and not values["city"]:
        return None
    if "{offer}" in fmt and not values["offer"]:
        return None
    if "{price}" in fmt and not values["price"]:
        return None
    if "{reason}" in fmt and not values["reason"]:
        return None
    if "{was}" in fmt and not values.get("was"):
        return None
    if item_room is None or "{item}" not in fmt:
        out = fmt.format(**values)
        return out if item_room is None or len(out) <= item_room else None
    rest = len(fmt.replace("{item}", "").format(**values))
    room = item_room - rest
    if room < min(8, len(values["item"])):
        return None
    return fmt.format(**{**values, "item": shorten(values["item"], room)})


def seed_for(req: CopyRequest, per_user: bool = True) -> int:
    """Stable variant choice: the same user sees the same wording for the same item (no flicker)."""
    who = req.user_id if per_user else ""
    key = f"{who}|{req.item_id}|{req.stage}|{req.channel}|{req.variant}"
    return zlib.crc32(key.encode("utf-8"))


def _first_fit(options: list[str], values: dict[str, str], room: int) -> str:
    """The first option that fills and fits ``room`` characters, or '' when none does."""
    for fmt in options:
        got = _fill(fmt, values, room)
        if got:
            return got
    return ""


def render(req: CopyRequest, config: CopyConfig, *, seed: int | None = None) -> Fields:
    """Fill a template for ``req``; the result fits the channel and passes ``guardrails.check``."""
    loc = req.lang
    lib = library(loc)[req.stage]
    seed = seed_for(req) if seed is None else seed
    values = {
        "name": req.first_name.strip(),
        "item": " ".join(req.item_title.split()),
        "price": format_price(req.price, req.currency, loc),
        "offer": (req.offer or "").strip(),
        "city": req.city.strip(),
        "reason": req.reason.strip().rstrip(".。"),
        "was": format_price(req.price_dropped_from, req.currency, loc),
    }
    title_max, body_max = channel_limits(req.channel, config)
    title = _title(req, lib, values, seed, title_max)
    if req.channel == "sms":
        body = _sms_body(req, lib, values, seed, body_max, opt_out_note(loc, config))
    else:
        body = _body(req, lib, values, seed, body_max)
    cta = next((c for c in _pick(lib.cta, seed) if len(c) <= config.cta_max), "")
    return Fields(title=title, body=body, cta=cta)


def facts_lead(req: CopyRequest) -> str:
    """The fact the copy leads with, when one holds: 'cart' (an idle cart holding the item),
    'price_drop', 'restock', or '' (the stage's copy)."""
    if req.trigger == "cart_idle" and req.in_cart:
        return "cart"
    if req.price_dropped_from is not None and req.price is not None:
        return "price_drop"
    return "restock" if req.back_in_stock else ""


def _title(req: CopyRequest, lib: StageTemplates, values: dict[str, str], seed: int, title_max: int) -> str:
    """Trigger-specific titles first (a cart's only for an item in it), then titles of the fact that
    holds, then stage titles with the name, then without (email: subjects first)."""
    lead = facts_lead(req)
    trig: tuple[str, ...] = ()
    if req.trigger != "cart_idle" or lead == "cart":
        trig = TRIGGER_TITLES[req.lang].get(req.trigger, ())
    trig += FACT_TITLES[req.lang].get(lead, ())
    title_opts: list[str] = []
    if values["name"]:
        title_opts += [t for t in _pick(trig, seed) if "{name}" in t] + _pick(lib.titles_name, seed)
    title_opts += [t for t in _pick(trig, seed) if "{name}" not in t] + _pick(lib.titles, seed)
    if req.channel == "email":
        title_opts = _pick(lib.subjects, seed) + title_opts
    fillable = [t for t in title_opts if values["name"] or "{name}" not in t]
    return _first_fit(fillable, values, title_max) or shorten(lib.titles[0], title_max)


def _kind(values: dict[str, str]) -> str:
    """Which body variants apply: with the offer, with the price, or plain."""
    return "offer" if values["offer"] else ("price" if values["price"] else "plain")


def _sms_body(
    req: CopyRequest, lib: StageTemplates, values: dict[str, str], seed: int, body_max: int, note: str
) -> str:
    """A short SMS text followed by the opt-out note, together within ``body_max``."""
    loc = req.lang
    kind = _kind(values)
    lead = facts_lead(req)
    room = body_max - len(note) - (0 if loc == "zh-CN" else 1)
    opts = list(CART_BODIES[loc]["sms"]) if lead == "cart" else list(FACT_BODIES[loc].get(lead, ()))
    opts += _pick(getattr(lib, f"sms_{kind}"), seed) + _pick(lib.sms_plain, seed)
    core = _first_fit(opts, values, room) or shorten(values["item"], room)
    sep = "" if loc == "zh-CN" else " "
    return f"{core}{sep}{note}"


def _body(req: CopyRequest, lib: StageTemplates, values: dict[str, str], seed: int, body_max: int) -> str:
    """The body for push, email and in-app; email and in-app add the reason line when it fits."""
    loc = req.lang
    kind = _kind(values)
    lead = facts_lead(req)
    opts = list(CART_BODIES[loc][kind]) if lead == "cart" else list(FACT_BODIES[loc].get(lead, ()))
    opts += _pick(getattr(lib, kind), seed) + _pick(lib.plain, seed)
    body = _first_fit(opts, values, body_max) or shorten(values["item"], body_max)
    if req.channel in ("email", "in_app") and values["reason"]:
        extra = REASON_LINE[loc].format(reason=values["reason"])
        if len(body) + len(extra) <= body_max:
            body = body + extra
    return body
