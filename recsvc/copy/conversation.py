"""What a chat conversation asks for: the language to answer in and the text to retrieve items for.

A reply follows the language the user writes in, not the profile's: a zh-CN user who asks in English
gets English. Retrieval follows what the user asks now; a follow-up such as "cheaper ones?" names no
product, so the user turns it follows are read with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from recsvc.copy.titles import CJK
from recsvc.vocabulary import DEFAULT_LOCALE, LOCALES

Turns = Sequence[tuple[str, str]]

_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_LANGUAGES = {loc.split("-")[0]: loc for loc in LOCALES}  # "en" -> "en-US", "zh" -> "zh-CN"
# How many user turns retrieval reads at most: the last one and the ones a follow-up refers back to.
MAX_QUERY_TURNS = 3
# A follow-up longer than this is taken to say what it wants by itself.
_FOLLOW_UP_MAX_WORDS = 6
_FOLLOW_UP_MAX_CJK = 10
# Words that point back at products already discussed, or ask for a variation of them.
_FOLLOW_UP = re.compile(
    r"\b(?:cheaper|cheapest|pricier|expensive|bigger|smaller|lighter|larger|better|different|similar|other|others"
    r"|another|alternatives?|else|instead|more|less|ones?|them|those|these|its?|they|what about|how about)\b"
    r"|便宜|贵|别的|其他|其它|还有|类似|同款|这个|那个|这些|那些|它|换|更"
)


def text_language(text: str) -> str | None:
    """The locale ``text`` is written in, "zh-CN" or "en-US"; None when it shows neither (emoji, digits, "?").

    Han characters are counted against Latin *words*, not letters: one character carries about a
    word, so "想买个iPhone壳" is Chinese and "Do you have 三只松鼠 nuts?" English.
    """
    cjk = len(CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if cjk == 0 and words == 0:
        return None
    return "zh-CN" if cjk > words else "en-US"


def supported_locale(tag: str) -> str | None:
    """The locale we answer in for a language tag ("en-GB" -> "en-US", "zh_Hans_CN" -> "zh-CN"),
    or None for a malformed tag or a language we do not write."""
    if not _TAG.fullmatch(tag):
        return None
    return _LANGUAGES.get(re.split(r"[-_]", tag)[0].lower())


def reply_language(turns: Turns, locale: str = "", profile_locale: str = "") -> str:
    """The locale to answer in: the language of the user's last message that shows one (latest first),
    else the request's ``locale``, else the profile's, else English."""
    for role, text in reversed(turns):
        if role == "user":
            lang = text_language(text)
            if lang is not None:
                return lang
    for loc in (locale, profile_locale):
        found = supported_locale(loc.strip()) if loc else None
        if found:
            return found
    return DEFAULT_LOCALE


def is_follow_up(text: str) -> bool:
    """A short message that points back at what was discussed ("cheaper ones?", "还有别的吗")."""
    low = text.lower()
    words = _LATIN_WORD.findall(low)
    cjk = CJK.findall(low)
    if len(words) > _FOLLOW_UP_MAX_WORDS or len(cjk) > _FOLLOW_UP_MAX_CJK:
        return False
    return _FOLLOW_UP.search(low) is not None


def query_turns(turns: Turns) -> list[str]:
    """The user turns retrieval reads, oldest first: the last, and while the earliest taken is a
    follow-up, the user turn before it (at most :data:`MAX_QUERY_TURNS`)."""
    said = [text.strip() for role, text in turns if role == "user" and text.strip()]
    if not said:
        return []
    picked = [said[-1]]
    while len(picked) < min(MAX_QUERY_TURNS, len(said)) and is_follow_up(picked[0]):
        picked.insert(0, said[-1 - len(picked)])
    return picked


def retrieval_query(turns: Turns, max_chars: int) -> str:
    """The text items are retrieved for: :func:`query_turns` joined, at most ``max_chars`` characters.

    The last turn comes first in the budget (its beginning is kept when it alone is too long); an
    earlier turn is added, cut to what is left, only while room remains.
    """
    parts: list[str] = []
    left = max_chars
    for text in reversed(query_turns(turns)):
        if left <= 0:
            break
        piece = text[:left].strip()
        if piece:
            parts.insert(0, piece)
            left -= len(piece) + 1
    return " ".join(parts)
