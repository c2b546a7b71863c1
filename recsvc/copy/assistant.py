"""Grounded, streamed replies for chat assistants: the LLM may only talk about the items it was given.

Text is released sentence by sentence, each after passing :func:`reply_check` (``guardrails.check_text``
plus the assistant's own rules: no other catalog item even when the user named it, no amount of money
that is not a given item's price); the first bad sentence stops the model and a templated list of the
given items finishes the reply instead.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import check_text
from recsvc.copy.llm import LLMClient, Prompt
from recsvc.copy.numbers import format_price
from recsvc.copy.titles import CJK, CatalogTitles
from recsvc.errors import Unavailable
from recsvc.vocabulary import effective_locale

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")
_MAX_TURNS = 6
_STOP = ("###", "\nCustomer:", "\n顾客：", "\nProducts:", "\n商品：")

_FEW_SHOT = {
    "en-US": (
        "A shop assistant answers customers in English, naming only the products listed.\n\n"
        "Products: Trail Running Shoes ($89, light and grippy); Wool Hiking Socks ($15, warm)\n"
        "Customer: I need something for weekend hikes.\n"
        "Assistant: Try the Trail Running Shoes ($89): they are light and grippy. "
        "Add the Wool Hiking Socks ($15) for warm feet.\n###\n"
    ),
    "zh-CN": (
        "导购助手只用中文回答，只提到列出的商品。\n\n"
        "商品：越野跑鞋（¥499，轻便防滑）；羊毛袜（¥59，保暖）\n"
        "顾客：周末去爬山穿什么？\n"
        "助手：推荐越野跑鞋（¥499），轻便又防滑。再配一双羊毛袜（¥59），脚下更暖和。\n###\n"
    ),
}


def _item_line(item: Mapping[str, Any], lang: str) -> str:
    price = format_price(_price(item), str(item.get("currency", "") or ""), lang)
    extras = [x for x in (price, str(item.get("reason", "") or "").strip()) if x]
    title = str(item.get("title", "")).strip()
    if not extras:
        return title
    return f"{title}（{'，'.join(extras)}）" if lang == "zh-CN" else f"{title} ({', '.join(extras)})"


def _price(item: Mapping[str, Any]) -> float | None:
    p = item.get("price")
    try:
        return None if p is None or p == "" else float(p)
    except (TypeError, ValueError):
        return None


def grounding(
    conversation: Sequence[tuple[str, str]], items: Sequence[Mapping[str, Any]], lang: str
) -> tuple[list[str], list[str]]:
    """(facts, titles) a reply may repeat: item lines and prices, and what the user wrote; the items'
    titles and their other catalog names (``aliases``), in English replies only those without Chinese."""
    titles = [str(it.get("title", "")) for it in items]
    aliases = [str(a) for it in items for a in it.get("aliases", ()) or ()]
    titles += [a for a in aliases if lang != "en-US" or not CJK.search(a)]
    facts = [_item_line(it, lang) for it in items] + [
        format_price(_price(it), str(it.get("currency", "") or ""), lang) for it in items
    ]
    facts += [text for role, text in conversation if role != "assistant"]
    return facts, titles


_MONEY = re.compile(
    r"(?P<sym>[$€£¥￥])\s*(?P<a>\d+(?:[.,]\d+)*)"
    r"|(?P<b>\d+(?:[.,]\d+)*)\s*(?:元|块|yuan\b|rmb\b|cny\b|usd\b|dollars?\b)",
    re.IGNORECASE,
)


def _money_symbol(currency: str, lang: str) -> str:
    """The sign a price in ``currency`` is written with ('$', '¥', ...), '' for a code ("12 CHF")."""
    shown = format_price(1.0, currency, lang)[:1]
    return shown if shown in "$€£¥" else ""


def _unlisted_amount(sentence: str, items: Sequence[Mapping[str, Any]], lang: str) -> bool:
    """An amount of money in ``sentence`` that is no given item's price (in that item's currency)."""
    prices = [
        (p, _money_symbol(str(it.get("currency", "") or ""), lang)) for it in items if (p := _price(it)) is not None
    ]
    for m in _MONEY.finditer(sentence):
        token = (m.group("a") or m.group("b") or "").replace(",", "")
        try:
            value = float(token)
        except ValueError:
            return True
        sign = {"￥": "¥"}.get(m.group("sym") or "", m.group("sym") or "")
        if not any(abs(value - p) < 0.005 and (not sign or not s or sign == s) for p, s in prices):
            return True
    return False


def _without(text: str, phrases: Iterable[str]) -> str:
    out = text
    for f in sorted({f.strip() for f in phrases if f and f.strip()}, key=len, reverse=True):
        out = re.sub(re.escape(f), " ", out, flags=re.IGNORECASE)
    return out


def reply_check(
    conversation: Sequence[tuple[str, str]],
    items: Sequence[Mapping[str, Any]],
    lang: str,
    config: CopyConfig,
    catalog_titles: CatalogTitles | None = None,
) -> Callable[[str], str | None]:
    """The rule a reply sentence fails (see ``guardrails.RULES``), or None when it may be sent.

    What the user wrote may be repeated (their words and numbers), but it grants nothing: a catalog
    item the user named that is not among ``items`` is still ``invented_item``, and an amount of money
    that is not one of the items' prices is ``number``.
    """
    facts, titles = grounding(conversation, items, lang)
    own_facts = [_item_line(it, lang) for it in items] + [str(it.get("reason", "") or "") for it in items]

    def check(sentence: str) -> str | None:
        rule = check_text(sentence, lang=lang, facts=facts, titles=titles, config=config, catalog_titles=catalog_titles)
        if rule:
            return rule
        if catalog_titles is not None and catalog_titles.find_other(_without(sentence, own_facts), titles):
            return "invented_item"
        if _unlisted_amount(sentence, items, lang):
            return "number"
        return None

    return check


def template_reply(items: Sequence[Mapping[str, Any]], locale: str) -> str:
    """A reply listing the given items with their prices: always grounded, never empty."""
    lang = effective_locale(locale)
    if not items:
        return (
            "抱歉，暂时没有合适的推荐。换个说法试试？"
            if lang == "zh-CN"
            else "Sorry, I have no matching picks right now. Could you tell me a bit more?"
        )
    parts = []
    for it in items[:5]:
        title = str(it.get("title", "")).strip()
        price = format_price(_price(it), str(it.get("currency", "") or ""), lang)
        if lang == "zh-CN":
            parts.append(f"{title}（{price}）" if price else title)
        else:
            parts.append(f"{title} ({price})" if price else title)
    if lang == "zh-CN":
        return "为你推荐：" + "、".join(parts) + "。"
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Here are my picks for you: {listed}."


def build_prompt(
    conversation: Sequence[tuple[str, str]], items: Sequence[Mapping[str, Any]], lang: str, mode: str
) -> Prompt:
    """Chat messages (instruct models) or a few-shot transcript (base models) grounded in ``items``."""
    listing = "; ".join(_item_line(it, lang) for it in items)
    turns = list(conversation)[-_MAX_TURNS:]
    if mode == "chat":
        system = (
            (
                "你是购物助手，用简体中文简短回答。"
                if lang == "zh-CN"
                else "You are a shopping assistant. Answer briefly in English. "
            )
            + "Only mention these products, with their exact prices, and no others: "
            + listing
            + ". No links, phone numbers or other numbers."
        )
        msgs = [{"role": "system", "content": system}]
        for role, text in turns:
            msgs.append({"role": "assistant" if role == "assistant" else "user", "content": text})
        return msgs
    who = {
        "user": "顾客" if lang == "zh-CN" else "Customer",
        "assistant": "助手" if lang == "zh-CN" else "Assistant",
    }
    sep = "：" if lang == "zh-CN" else ": "
    head = ("商品：" if lang == "zh-CN" else "Products: ") + listing + "\n"
    lines = [f"{who.get(role, who['user'])}{sep}{text.strip()}" for role, text in turns]
    return _FEW_SHOT[lang] + head + "\n".join(lines) + "\n" + who["assistant"] + sep.rstrip()


class _CheckedSentences:
    """The sentences of a streamed reply as they complete, while each passes ``check``.

    Iteration stops at the first sentence that fails; ``failed`` then names its rule ('' otherwise).
    """

    def __init__(self, chunks: Iterable[str], check: Callable[[str], str | None]) -> None:
        self._chunks = chunks
        self._check = check
        self.failed = ""

    def __iter__(self) -> Iterator[str]:
        buf = ""
        for chunk in self._chunks:
            buf += chunk
            pieces = _SENTENCE_END.split(buf)
            buf = pieces.pop()  # the unfinished tail
            for sent in pieces:
                if not sent.strip():
                    continue
                if not self._passes(sent):
                    return
                yield sent.strip()
        if buf.strip() and self._passes(buf):
            yield buf.strip()

    def _passes(self, sentence: str) -> bool:
        self.failed = self._check(sentence) or ""
        return not self.failed


def stream_reply(
    conversation: list[tuple[str, str]],
    items: list[dict[str, Any]],
    locale: str,
    llm: LLMClient | None,
    config: CopyConfig,
    *,
    catalog_titles: CatalogTitles | None = None,
    timeout_s: float | None = None,
    max_tokens: int = 160,
) -> Iterator[str]:
    """Yield chunks of a reply naming only ``items``; falls back to ``template_reply`` on any failure."""
    lang = effective_locale(locale)
    if llm is None or not items:
        yield template_reply(items, lang)
        return
    ok = reply_check(conversation, items, lang, config, catalog_titles)
    prompt = build_prompt(conversation, items, lang, config.mode)
    stream = llm.stream(
        prompt,
        max_tokens=max_tokens,
        timeout_s=timeout_s or config.timeout_s,
        stop=_STOP if config.mode == "completion" else None,
        temperature=config.temperature,
    )
    sentences = _CheckedSentences(stream, ok)
    emitted = 0
    failed = ""
    try:
        for sentence in sentences:
            yield (" " if emitted and lang == "en-US" else "") + sentence
            emitted += 1
        failed = sentences.failed
    except Unavailable as exc:
        logger.warning("assistant LLM failed: %s", exc)
        failed = "unavailable"
    finally:
        with contextlib.suppress(Exception):
            stream.close()  # type: ignore[attr-defined]
    if failed:
        logger.info("assistant reply fell back to template (%s)", failed)
    if failed or not emitted:
        yield (" " if emitted and lang == "en-US" else "") + template_reply(items, lang)
