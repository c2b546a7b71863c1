"""The hook writer: the model writes one short line, the request's facts fill everything else.

A 270M base model cannot be trusted with names, prices or offers, and left to write a whole message
it echoes its prompt or says nothing. So it writes only a *hook* (``{"hook": "..."}``, held to that
JSON and a bounded length by a grammar on the local llama.cpp server, or by JSON mode on a chat
API), and the message is built from slots: the title is the user's name and the hook, the body and
call to action are the template's, filled with the item's real title in the reader's locale, its
price, offer and link. Facts in a message are therefore always the request's.

Best of K: ``hook_candidates`` calls with different seeds (llama.cpp ignores ``n``), each candidate
checked, the best kept; when all K are refused, another K with new seeds, up to ``hook_rounds``
rounds (so the extra calls cost time only for messages that would otherwise be templates). A
candidate is refused, naming the rule, when it

- ``truncated``: is not one complete JSON object, stopped on the token limit, ran past its length
  bound (the grammar allows one character more than the bound, so a hook the grammar cut mid-phrase
  is that long, while one that closed itself at the bound ended on its own), or ends on an article,
  preposition or conjunction ("for a day at a", "让你的");
- ``hook_length``: is shorter than ``hook_min_chars`` of the locale, or longer than the bound;
- ``hook_language``: is in the wrong language (any CJK in en-US; under 60% CJK letters in zh-CN);
- ``hook_unnamed``: does not name the item: no word of its name (en-US, plurals allowed) or no
  two-character run of its name (zh-CN), leaving out brandless filler such as "premium" or "经典";
- ``hook_echo``: repeats the prompt's instruction, a moment line or an example hook: is part of
  one, shares a run of 5 (zh-CN) or 14 (en-US) letters with one (spaces and punctuation left out),
  or shares 60% of its character bigrams with one;
- ``hook_off_item``: borrows an example product's words that the item's title does not have:
  its name ("linen" for a cotton pillow) or what its hook says only of it ("双眼" for earphones);
- ``hook_repeat``: repeats itself (a word or a two-character run twice, a character three times);
- or the whole message built around it fails :func:`recsvc.copy.guardrails.check`.

Among the rest the score is: 2 if the hook holds the item's whole short name, else 1 for naming it
by a word; plus up to 1 for length near 70% of the bound (``1 - |len - target| / bound``); plus 0.25
for ending on a word or a full stop rather than a comma or colon. The highest wins (ties: the
earlier seed). When no candidate survives, the message is the template, with the writer recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from recsvc.copy import hook_prompts, templates
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields, channel_limits
from recsvc.copy.numbers import format_price
from recsvc.copy.titles import CJK
from recsvc.copy.types import CopyRequest

_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Words that describe many products: naming only these is not naming the item.
_FILLER = frozenset(
    re.findall(
        r"\w+",
        "the and for with set kit pack new premium classic natural ultra mini daily smart fresh deluxe eco "
        "pro plus max original best style edition collection series",
    )
)
_ZH_FILLER = frozenset(["套装", "经典", "天然", "超能", "迷你", "日常", "智能", "鲜享", "豪华", "环保", "臻选", "精选"])
_LETTER = re.compile(r"[^\W\d_]")


def hook_bound(req: CopyRequest, cfg: CopyConfig) -> int:
    """Most characters a hook may have: the locale's setting, never more than the channel's title."""
    title_max, _ = channel_limits(req.channel, cfg)
    limit = cfg.hook_max_chars_zh if req.lang == "zh-CN" else cfg.hook_max_chars_en
    return min(limit, title_max)


def min_chars(req: CopyRequest, cfg: CopyConfig) -> int:
    return cfg.hook_min_chars_zh if req.lang == "zh-CN" else cfg.hook_min_chars_en


def grammar_chars(bound: int) -> int:
    """Characters the grammar allows: the bound plus one, so that a hook ending exactly at the bound
    is told apart from one the grammar cut (which reaches bound + 1)."""
    return bound + 1


def max_tokens(bound: int, lang: str) -> int:
    """Tokens enough for the JSON around a hook of ``bound`` characters (a CJK character may be 2)."""
    return (2 * bound if lang == "zh-CN" else bound) + 12


def cache_key(req: CopyRequest, cfg: CopyConfig) -> tuple[str, ...]:
    """Everything a hook depends on: prompt version, item, locale, stage, trigger, bound and facts."""
    return (
        hook_prompts.HOOK_PROMPT_VERSION,
        req.item_id or req.item_title,
        req.item_title,
        req.lang,
        req.stage,
        req.trigger,
        str(hook_bound(req, cfg)),
        format_price(req.price, req.currency, req.lang),
        (req.offer or "").strip(),
        req.variant,
    )


def parse_hook(text: str, finish_reason: str = "") -> str | None:
    """The hook of a complete ``{"hook": "..."}`` answer; None when truncated or malformed."""
    if finish_reason == "length":
        return None
    cleaned = re.sub(r"```(?:json)?", "", text).strip()
    start = cleaned.find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError:
        return None  # unbalanced: the answer stopped inside the object
    hook = obj.get("hook") if isinstance(obj, dict) else None
    if not isinstance(hook, str):
        return None
    return " ".join(hook.split()).strip("\"'“”「」")


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _name_words(title: str) -> set[str]:
    return {_stem(w) for w in _EN_WORD.findall(title.lower()) if len(w) >= 3 and w not in _FILLER}


def _zh_runs(text: str) -> set[str]:
    """Two-character runs of CJK letters (a Chinese name's smallest meaningful parts)."""
    chars = "".join(CJK.findall(text))
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def names_item(hook: str, req: CopyRequest) -> int:
    """2 when the hook holds the item's short name, 1 when it names it by a word, else 0."""
    name = hook_prompts.short_name(req.item_title, req.lang)
    if name.lower() in hook.lower():
        return 2
    if req.lang == "zh-CN":
        title_runs = _zh_runs(name) - _ZH_FILLER
        if title_runs & _zh_runs(hook):
            return 1
    hook_words = {_stem(w) for w in _EN_WORD.findall(hook.lower())}
    return 1 if _name_words(name) & hook_words else 0


def _bigrams(text: str) -> set[str]:
    s = re.sub(r"\W+", "", text.lower())
    return {s[i : i + 2] for i in range(len(s) - 1)}


def is_echo(hook: str, lang: str) -> bool:
    """The hook repeats the prompt's own text: an instruction, a moment or an example hook."""
    h = re.sub(r"\W+", "", hook.lower())
    hb = _bigrams(hook)
    # A run of the prompt inside the hook counts once it is long enough to be more than a common phrase.
    long_enough = 5 if lang == "zh-CN" else 14
    for text in hook_prompts.prompt_texts(lang):
        t = re.sub(r"\W+", "", text.lower())
        if len(h) >= 4 and (h in t or _longest_common_run(h, t) >= long_enough):
            return True
        tb = _bigrams(text)
        if hb and tb and len(hb & tb) / len(hb | tb) >= 0.6:
            return True
    return False


def off_item(hook: str, req: CopyRequest) -> bool:
    """The hook borrows an example product's words (its name, or what its hook says only of it)
    that this item's title does not have."""
    title = req.item_title.lower()
    title_words = {_stem(w) for w in _EN_WORD.findall(title)}
    hook_words = {_stem(w) for w in _EN_WORD.findall(hook.lower())}
    hook_runs = _zh_runs(hook)
    title_runs = _zh_runs(req.item_title)
    for words in hook_prompts.example_words(req.lang):
        borrowed = (_name_words(words) & hook_words) - title_words
        if borrowed or (((_zh_runs(words) - _ZH_FILLER) & hook_runs) - title_runs):
            return True
    return False


def _longest_common_run(a: str, b: str) -> int:
    """Length of the longest common substring of ``a`` and ``b``."""
    best_len = 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                best_len = max(best_len, cur[j])
        prev = cur
    return best_len


_DANGLING_EN = frozenset(re.findall(r"\w+", "a an the of for to with and or at in on by your my our this that"))
_DANGLING_ZH = ("的", "和", "与", "在", "给", "让", "为", "把", "是")


def dangling(hook: str, lang: str) -> bool:
    """The hook stops mid-phrase: on an article, preposition or conjunction (a cut, not an end)."""
    if lang == "zh-CN":
        return hook.rstrip("，、：；").endswith(_DANGLING_ZH)
    words = _EN_WORD.findall(hook.lower())
    return bool(words) and words[-1] in _DANGLING_EN


def repeats(hook: str, lang: str) -> bool:
    """The hook repeats a word, a two-character run, or a character three times in a row."""
    if re.search(r"(.)\1\1", hook):
        return True
    if lang == "zh-CN":
        chars = "".join(CJK.findall(hook))
        runs = [chars[i : i + 2] for i in range(len(chars) - 1)]
        if len(runs) != len(set(runs)):
            return True
    words = [w for w in _EN_WORD.findall(hook.lower()) if len(w) >= 3]
    return len(words) != len(set(words))


def wrong_language(hook: str, lang: str) -> bool:
    letters = _LETTER.findall(hook)
    cjk = len(CJK.findall(hook))
    if lang == "zh-CN":
        return not letters or cjk < 0.6 * len(letters)
    return cjk > 0


def compose(hook: str, req: CopyRequest, cfg: CopyConfig, first_name: str | None = None) -> Fields:
    """The message around a hook: title = name + hook (hook alone when that does not fit), body and
    call to action from the template, with the request's real title, price, offer and link."""
    base = templates.render(req, cfg)
    title_max, _ = channel_limits(req.channel, cfg)
    name = (req.first_name if first_name is None else first_name).strip()
    title = hook
    if name:
        if req.lang == "zh-CN":
            named = f"{name}，{hook}"
        else:
            # "Mia, a wool beanie ...", but "Mia, Serum that ..." when the first word is the item's.
            first = hook.split(" ", 1)[0]
            plain = first != "I" and (len(first) == 1 or first[1:].islower())
            lower = plain and _stem(first.lower()) not in _name_words(req.item_title)
            named = f"{name}, {hook[0].lower() + hook[1:] if lower else hook}"
        if len(named) <= title_max:
            title = named
    return Fields(title=title, body=base.body, cta=base.cta)


@dataclass(frozen=True)
class Judged:
    """One candidate: its hook, the rule that refused it ('' when it passed) and its score."""

    hook: str
    rule: str
    score: float


def judge(
    hook: str | None,
    req: CopyRequest,
    cfg: CopyConfig,
    guard: Callable[[Fields], str | None],
) -> Judged:
    """Refuse a candidate by the first failed rule (see the module), or score it.

    ``guard`` checks the whole composed message (the guardrails with the catalog's titles).
    """
    if hook is None:
        return Judged("", "truncated", 0.0)
    bound = hook_bound(req, cfg)
    lang = req.lang
    if len(hook) > bound or dangling(hook, lang):
        return Judged(hook, "truncated", 0.0)
    if len(hook) < min_chars(req, cfg):
        return Judged(hook, "hook_length", 0.0)
    if wrong_language(hook, lang):
        return Judged(hook, "hook_language", 0.0)
    named = names_item(hook, req)
    checks = (
        ("hook_unnamed", not named),
        ("hook_echo", is_echo(hook, lang)),
        ("hook_off_item", off_item(hook, req)),
        ("hook_repeat", repeats(hook, lang)),
    )
    for rule, failed in checks:
        if failed:
            return Judged(hook, rule, 0.0)
    rule = guard(compose(hook, req, cfg)) or ""
    if rule:
        return Judged(hook, rule, 0.0)
    target = 0.7 * bound
    score = float(named) + max(0.0, 1.0 - abs(len(hook) - target) / bound)
    if not re.search(r"[,，:：;；、]$", hook):
        score += 0.25
    return Judged(hook, "", score)


def best(judged: list[Judged]) -> Judged | None:
    """The highest-scoring passing candidate (the earliest on ties), or None."""
    passing = [j for j in judged if not j.rule]
    return max(passing, key=lambda j: j.score) if passing else None
