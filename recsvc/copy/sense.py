"""Whether copy makes sense for its item and reader, beyond its form.

The form rules (:mod:`recsvc.copy.guardrails`) let through a message that is short, has no invented
number and no other product, yet says nothing true or useful: "your cart is waiting" for an empty
cart, the prompt's own instruction as a title, a Chinese line around no product at all. These rules
read what the message claims and whom it is about:

- ``cart_claim``, ``price_drop_claim``, ``restock_claim``, ``offer_claim``: it claims a fact that
  does not hold for this reader (see :mod:`recsvc.copy.facts` and :mod:`recsvc.copy.claims`);
- ``item_not_named``: neither the item's title in the reader's locale nor a recognisable part of
  it (its first run of Chinese characters, or two of its English words) is in the title or body;
- ``prompt_echo``: it repeats the prompt's instructions (a run of words of the strategy or moment
  lines that no template says either, or the facts line's keys);
- ``language``: a zh-CN title or body without Chinese, or an en-US one mostly in Chinese, once the
  given facts (the item's title, the name, the city, the offer) are taken out;
- ``off_topic``: taste words ("尝尝", "delicious") about an item that is no food or drink.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from types import ModuleType

from recsvc.copy.claims import Claim, claims_in
from recsvc.copy.titles import CJK, norm_words
from recsvc.copy.types import CopyRequest

SENSE_RULES = (
    "cart_claim",
    "price_drop_claim",
    "restock_claim",
    "offer_claim",
    "language",
    "item_not_named",
    "prompt_echo",
    "off_topic",
)

_EN_NGRAM = 4  # words of an instruction in a row that make an echo
_ZH_NGRAM = 5  # Chinese characters of an instruction in a row that make an echo
_LATIN = re.compile(r"[A-Za-z]")
# Title words too common to recognise an item by.
_STOP = frozenset(
    re.findall(r"\w+", "the a an and or of for with in on to by at from new set pack size kit mini pro plus vol")
)
# Keys of the prompt's facts line and words about the prompt rather than to the reader.
_META = re.compile(
    r"\b(?:facts?|goal|moment|channel)\s*[=:]|\b(?:item|name|price|offer)\s*=|\bthe\s+user\b|\bmarketing\s+message"
    r"|\bshopping\s+app\b|事实[:：]|(?<![新老])用户|文案|营销|推送消息",
    re.IGNORECASE,
)
_TASTE = re.compile(
    r"尝尝|尝一尝|好吃|美味|口感|味道|香甜|\btast(?:e|y|ier)\b|\bdelicious\b|\byummy\b|\bflavou?r", re.I
)
_FOOD = re.compile(
    r"food|snack|coffee|tea\b|drink|beverage|grocer|candy|chocolate|fruit|nut|treat|kibble|meal|sauce|spice"
    r"|食|零食|咖啡|茶|饮|粮|果|糖|巧克力|坚果|饼|肉|奶|味|酱|米|面|零嘴|冲调",
    re.I,
)
_FACT_RULES = (
    (Claim.CART, "cart_claim"),
    (Claim.PRICE_DROP, "price_drop_claim"),
    (Claim.RESTOCK, "restock_claim"),
    (Claim.OFFER, "offer_claim"),
)


def check_copy(req: CopyRequest, title: str, body: str) -> list[str]:
    """The sense rules (see ``SENSE_RULES``) that ``title`` and ``body`` fail for ``req``, in that order."""
    text = f"{title}\n{body}"
    failed = false_claims(req, text)
    if any(wrong_language(field, req) for field in (title, body)):
        failed.append("language")
    if not item_named(req.item_title, text):
        failed.append("item_not_named")
    if echoes_prompt(text, req.lang):
        failed.append("prompt_echo")
    if off_topic(req, text):
        failed.append("off_topic")
    return failed


def holds(req: CopyRequest, claim: Claim) -> bool:
    """Whether ``claim`` is true for the request's item and reader."""
    if claim is Claim.CART:
        return req.in_cart
    if claim is Claim.PRICE_DROP:
        return req.price_dropped_from is not None
    if claim is Claim.RESTOCK:
        return req.back_in_stock
    return bool((req.offer or "").strip()) or req.price_dropped_from is not None


def false_claims(req: CopyRequest, text: str) -> list[str]:
    """Rule names of the claims in ``text`` whose facts do not hold; the item's own title is no claim
    ("Deal Finder Pro" does not promise a deal)."""
    found = claims_in(_without(text, [req.item_title, req.offer or ""]))
    return [rule for claim, rule in _FACT_RULES if claim in found and not holds(req, claim)]


def item_named(item_title: str, text: str) -> bool:
    """``text`` names the item: its whole title, the head of its first Chinese run (4 characters, or
    the whole run when shorter), any other Chinese run of 4, or two of its English words (its one
    word, when it has only one)."""
    title = " ".join(item_title.split())
    if not title:
        return True
    if " ".join(norm_words(title)) in " ".join(norm_words(text)):
        return True
    # A title a template shortened to fit: its first words and an ellipsis ("Pebble…").
    words = title.split(" ")
    if any(" ".join(words[:n]).rstrip(",.;:，") + "…" in text for n in range(1, len(words) + 1) if len(words[0]) >= 3):
        return True
    compact = re.sub(r"\s+", "", text)
    for i, run in enumerate(re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}", title)):
        k = min(4, len(run))
        if (i == 0 or len(run) >= 4) and any(run[j : j + k] in compact for j in range(len(run) - k + 1)):
            return True
    words = [w for w in dict.fromkeys(norm_words(title)) if len(w) >= 3 and w not in _STOP and not w.isdigit()]
    if not words or CJK.search("".join(words)):
        return False
    present = set(norm_words(text))
    return sum(w in present for w in words) >= min(2, len(words))


def echoes_prompt(text: str, lang: str) -> bool:
    """``text`` repeats the prompt's instructions (see the module docstring)."""
    if _META.search(text):
        return True
    return bool(_ngrams(text, lang) & _instruction_ngrams(lang))


def wrong_language(field: str, req: CopyRequest) -> bool:
    """One title or body in the wrong language, once the given facts are taken out."""
    facts = [req.item_title, req.first_name, req.city, req.offer or "", req.currency]
    rest = _without(field, facts)
    # A shortened title ("小米无线蓝牙…", "Pebble Natural…") is still a fact, not the writer's language.
    fact_chars = set("".join(facts))
    fact_words = {w for f in facts for w in norm_words(f)}
    han = sum(c not in fact_chars for c in CJK.findall(rest))
    latin = sum(len(_LATIN.findall(w)) for w in norm_words(rest) if w not in fact_words)
    if req.lang == "zh-CN":
        return han == 0 and latin >= 2
    return han > 0 and han >= latin


def off_topic(req: CopyRequest, text: str) -> bool:
    """Taste words about an item whose category, title and description say no food or drink."""
    if not _TASTE.search(_without(text, [req.item_title])):
        return False
    about = " ".join((req.item_category, req.item_title, req.item_description))
    return not (_FOOD.search(about) or _TASTE.search(about))


def _without(text: str, phrases: Iterable[str]) -> str:
    out = text
    for p in sorted({p.strip() for p in phrases if p and p.strip()}, key=len, reverse=True):
        out = re.sub(re.escape(p), " ", out, flags=re.IGNORECASE)
    return out


def _ngrams(text: str, lang: str) -> set[str]:
    if lang == "zh-CN":
        out: set[str] = set()
        for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", text):
            out.update(run[i : i + _ZH_NGRAM] for i in range(len(run) - _ZH_NGRAM + 1))
        return out
    words = norm_words(text)
    return {" ".join(words[i : i + _EN_NGRAM]) for i in range(len(words) - _EN_NGRAM + 1)}


@functools.lru_cache(maxsize=4)
def _instruction_ngrams(lang: str) -> frozenset[str]:
    """N-grams of the prompt's strategy and moment lines that no template says too."""
    from recsvc.copy import prompts, templates  # imported late: both import the guardrails, which import this

    said: set[str] = set()
    for text in _template_texts(templates, lang):
        said |= _ngrams(text, lang)
    told: set[str] = set()
    for table_name in ("STRATEGY", "TRIGGER_HINT", "GOAL_WITHOUT_CART_OR_OFFER", "FACT_HINT"):
        table = getattr(prompts, table_name, {})
        for line in table.get(lang, {}).values():
            told |= _ngrams(str(line), lang)
    return frozenset(told - said)


def _template_texts(templates: ModuleType, lang: str) -> list[str]:
    """Every template string of ``lang``, its slots cut out (so n-grams never span a slot)."""
    out: list[str] = []
    library = templates.library(lang)
    for stage in library.values():
        for f in dataclasses.fields(stage):
            out.extend(getattr(stage, f.name))
    for table_name in ("TRIGGER_TITLES", "CART_BODIES", "FACT_TITLES", "FACT_BODIES"):
        table = getattr(templates, table_name, {}).get(lang, {})
        for options in table.values():
            out.extend(options)
    return [re.sub(r"\{[a-z_]+\}", " | ", t) for t in out]
