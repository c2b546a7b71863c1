"""Guardrails every message passes before it is sent, whoever wrote it (LLM or template).

A small model invents prices, products, links and phone numbers; these rules only let through text
whose numbers, names and links all come from the facts in the request. ``check`` returns the name of
the first failed rule so metrics and the API can say *why* a template answered instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from recsvc.copy.config import CopyConfig
from recsvc.copy.numbers import all_given, allowed_numbers, mask_given, number_failed, numbers_in, wrong_currency
from recsvc.copy.sense import SENSE_RULES, check_copy
from recsvc.copy.titles import CJK, CatalogTitles, norm_words
from recsvc.copy.types import CopyRequest

RULES = (
    "empty",
    "placeholder",
    "length",
    "opt_out",
    "banned_word",
    "personal_data",
    "link",
    "number",
    "invented_item",
    *(r for r in SENSE_RULES if r != "language"),
    "language",
)

_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|cn|co|shop|ly|app|me|info|biz|xyz)"
    r"\b(?:/\S*)?",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
_LONG_DIGITS = re.compile(r"\d{6,}")
_ADDRESS_EN = re.compile(
    r"\b\d{1,5}\s+(?:[A-Za-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct)"
    r"\b",
    re.IGNORECASE,
)
_ADDRESS_ZH = re.compile(r"(?:路|街|大道|巷|弄)\s*\d+\s*号|\d+\s*号(?:楼|院)|\d+\s*室")
_QUOTED = (
    re.compile(r"“([^”]{2,80})”"),
    re.compile(r"\"([^\"]{2,80})\""),
    re.compile(r"「([^」]{1,80})」"),
    re.compile(r"『([^』]{1,80})』"),
    re.compile(r"《([^》]{1,80})》"),
    re.compile(r"【([^】]{1,80})】"),
    re.compile(r"\[([^\]]{2,80})\]"),
    re.compile(r"(?<!\w)'([^']{3,80})'(?!\w)"),
)
_CAP_WORD = re.compile(r"[A-Z][\w'&-]*")
# Capitalised words that are ordinary marketing words, not product names.
_COMMON_CAPS = frozenset(
    [
        "i",
        "hi",
        "hello",
        "hey",
        "dear",
        "welcome",
        "thanks",
        "thank",
        "you",
        "your",
        "our",
        "we",
        "new",
        "now",
        "shop",
        "buy",
        "get",
        "see",
        "try",
        "explore",
        "discover",
        "today",
        "tonight",
        "this",
        "weekend",
        "week",
        "member",
        "members",
        "vip",
        "perks",
        "perk",
        "exclusive",
        "picks",
        "pick",
        "offer",
        "offers",
        "deal",
        "deals",
        "sale",
        "limited",
        "time",
        "only",
        "just",
        "for",
        "back",
        "miss",
        "missed",
        "come",
        "return",
        "order",
        "first",
        "app",
        "store",
        "check",
        "out",
        "tap",
        "open",
        "view",
        "browse",
        "review",
        "reviews",
        "guide",
        "tutorial",
        "tips",
        "how",
        "don't",
        "it's",
        "let's",
        "here",
        "there",
        "great",
        "good",
        "happy",
        "enjoy",
        "save",
        "off",
        "ok",
        "yes",
        "no",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "christmas",
        "easter",
        "halloween",
        "thanksgiving",
        "black",
        "cyber",
    ]
)


@dataclass(frozen=True)
class Fields:
    """The user-visible parts of a message."""

    title: str
    body: str
    cta: str = ""

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}\n{self.cta}"


def as_fields(msg: Mapping[str, str] | object) -> Fields:
    """Accept a dict with title/body/cta keys or any object with those attributes (e.g. ``Message``)."""
    if isinstance(msg, Fields):
        return msg
    if isinstance(msg, Mapping):
        return Fields(str(msg.get("title", "")), str(msg.get("body", "")), str(msg.get("cta", "")))
    return Fields(str(getattr(msg, "title", "")), str(getattr(msg, "body", "")), str(getattr(msg, "cta", "")))


def channel_limits(channel: str, config: CopyConfig) -> tuple[int, int]:
    """(title max, body max) in characters; SMS body includes the opt-out note."""
    if channel == "app_push":
        return config.push_title_max, config.push_body_max
    if channel == "sms":
        return config.push_title_max, config.sms_max
    if channel == "email":
        return config.email_subject_max, config.email_body_max
    return config.in_app_title_max, config.in_app_body_max


def opt_out_note(locale: str, config: CopyConfig) -> str:
    return config.sms_opt_out_zh if locale == "zh-CN" else config.sms_opt_out_en


def _remove(text: str, phrases: Iterable[str]) -> str:
    """``text`` without the (non-blank) phrases, longest first, ignoring case."""
    out = text
    for f in sorted({f.strip() for f in phrases if f and f.strip()}, key=len, reverse=True):
        out = re.sub(re.escape(f), " ", out, flags=re.IGNORECASE)
    return out


def _strip_facts(text: str, req: CopyRequest, extra: Iterable[str] = ()) -> str:
    """Remove given facts, so rules only judge what the writer added."""
    return _remove(text, [req.item_url, req.item_title, req.first_name, req.city, req.offer or "", req.reason, *extra])


def _fact_words(req: CopyRequest) -> set[str]:
    words: set[str] = set()
    for src in (req.item_title, req.first_name, req.city, req.offer or "", req.reason, req.currency):
        words.update(norm_words(src))
    return words


def _quote_ok(quote: str, req: CopyRequest, fields: Fields) -> bool:
    q = " ".join(norm_words(quote))
    if not q:
        return True
    given = " ".join(norm_words(req.item_title))
    okays = [given, " ".join(norm_words(req.offer or "")), " ".join(norm_words(fields.cta))]
    okays += [" ".join(norm_words(x)) for x in (req.first_name, req.city)]
    q_core = q.rstrip(" .…")
    return any(o and (q_core in o or o in q_core) for o in okays)


def _invented_capitalised(body: str, req: CopyRequest) -> str | None:
    """A run of 2+ capitalised words in the body that are not facts: likely an invented product name."""
    allowed = _fact_words(req) | _COMMON_CAPS
    for sentence in re.split(r"(?<=[.!?。！？:;])\s+|\n", body):
        words = sentence.split()
        run: list[str] = []
        for idx, raw in enumerate(words):
            w = raw.strip("\"'“”‘’()[],.!?:;…")
            is_cap = bool(_CAP_WORD.fullmatch(w)) and idx > 0
            if is_cap and w.lower() not in allowed and w.lower().strip("'s") not in allowed:
                run.append(w)
                if len(run) >= 2:
                    return " ".join(run)
            else:
                run = []
    return None


def _language_failed(fields: Fields, req: CopyRequest) -> bool:
    text = fields.text
    lang = req.lang
    fact_chars = set(req.item_title + req.first_name + req.city + (req.offer or "") + req.reason)
    if lang == "zh-CN":
        fact_words = _fact_words(req)
        residual = " ".join(w for w in norm_words(_strip_facts(text, req)) if w not in fact_words)
        cjk = len(CJK.findall(residual))
        latin = len(_LATIN_LETTER.findall(residual))
        return cjk < 2 or cjk < latin
    cjk_chars = [c for c in CJK.findall(text) if c not in fact_chars]
    if cjk_chars:
        return True
    # Characters of a (possibly shortened) non-Latin item title are facts, not the writer's language.
    letters = [c for c in _LETTER.findall(_strip_facts(text, req)) if c not in fact_chars or c.isascii()]
    if not letters:
        return False
    latin = sum(1 for c in letters if _LATIN_LETTER.match(c))
    return latin < 0.9 * len(letters)


def _has_banned_word(text: str, banned_words: Iterable[str]) -> bool:
    """A banned word or phrase in ``text``: as a whole word when it has Latin letters or digits, else anywhere."""
    low = text.lower()
    for word in banned_words:
        w = word.lower()
        if re.search(r"[a-z0-9]", w):
            if re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", low):
                return True
        elif w in low:
            return True
    return False


def _leak(residual: str, masked: str) -> str | None:
    """Personal data (e-mail, phone, long number, street address) or a link in the writer's text, by rule name.

    ``masked`` is the text without links and with the given numbers masked, so "$1,299 - 20%" is not
    mistaken for a phone number.
    """
    if _EMAIL.search(residual):
        return "personal_data"
    for m in _PHONE.finditer(masked):
        if sum(ch.isdigit() for ch in m.group(0)) >= 7:
            return "personal_data"
    if _LONG_DIGITS.search(masked) or _ADDRESS_EN.search(masked) or _ADDRESS_ZH.search(masked):
        return "personal_data"
    if _URL.search(residual):
        return "link"
    return None


def _form_failure(f: Fields, req: CopyRequest, config: CopyConfig) -> str | None:
    """The first failed rule on the message's shape: empty, placeholder, length or opt_out."""
    if not f.title.strip() or not f.body.strip():
        return "empty"
    if re.search(r"[{}]|<[a-z_]+>|\[(?:name|city|item|price)\]", f.text, re.IGNORECASE):
        return "placeholder"
    title_max, body_max = channel_limits(req.channel, config)
    if len(f.title) > title_max or len(f.body) > body_max or len(f.cta) > config.cta_max:
        return "length"
    if "\n" in f.title or "\n" in f.cta:
        return "length"
    if req.channel == "sms" and not f.body.rstrip().endswith(opt_out_note(req.lang, config)):
        return "opt_out"
    return None


def _invented_item(f: Fields, req: CopyRequest, catalog_titles: CatalogTitles | None) -> bool:
    """A quoted name that is no given fact, another catalog item's title, or (en-US) an unknown capitalised name."""
    for pat in _QUOTED:
        for m in pat.finditer(f.text):
            if not _quote_ok(m.group(1), req, f):
                return True
    if catalog_titles is not None and catalog_titles.find_other(_strip_facts(f.text, req), req.item_title):
        return True
    return req.lang == "en-US" and _invented_capitalised(_strip_facts(f.body, req), req) is not None


def check(
    msg_fields: Mapping[str, str] | object,
    req: CopyRequest,
    config: CopyConfig,
    *,
    catalog_titles: CatalogTitles | None = None,
) -> str | None:
    """Name of the first failed rule (see ``RULES``), or None when the message may be sent."""
    f = as_fields(msg_fields)
    form = _form_failure(f, req, config)
    if form:
        return form
    residual = _strip_facts(f.text, req)
    if _has_banned_word(residual, config.banned_words):
        return "banned_word"
    no_urls = _URL.sub(" ", residual.replace(req.item_url, " ") if req.item_url else residual)
    allowed = allowed_numbers(req)
    leak = _leak(residual, mask_given(no_urls, allowed))
    if leak:
        return leak
    if wrong_currency(f.text, req) or number_failed(no_urls, req, allowed):
        return "number"
    if _invented_item(f, req, catalog_titles):
        return "invented_item"
    # What the message says: claims that hold, the item named, no prompt echo, the reader's language.
    sense = check_copy(req, f.title, f.body)
    if sense:
        return sense[0]
    if _language_failed(f, req):
        return "language"
    return None


def check_text(
    text: str,
    *,
    lang: str,
    facts: Iterable[str],
    titles: Iterable[str],
    config: CopyConfig,
    catalog_titles: CatalogTitles | None = None,
) -> str | None:
    """Rules for free text (assistant replies): only given titles, facts' numbers, no links or PII.

    ``facts`` are strings the text may repeat (titles, prices, reasons, what the user wrote);
    ``titles`` are the item titles it may name.
    """
    fact_list = [f for f in facts if f and f.strip()]
    title_list = [t for t in titles if t and t.strip()]
    residual = _remove(text, fact_list + title_list)
    if _has_banned_word(residual, config.banned_words):
        return "banned_word"
    allowed = numbers_in(fact_list + title_list)
    leak = _leak(residual, mask_given(_URL.sub(" ", residual), allowed))
    if leak:
        return leak
    if not all_given(_URL.sub(" ", residual), allowed):
        return "number"
    if _invented_in_text(text, residual, lang, fact_list, title_list, catalog_titles):
        return "invented_item"
    if lang == "en-US":
        fact_chars = set("".join(fact_list + title_list))
        if any(c not in fact_chars for c in CJK.findall(text)):
            return "language"
    else:
        fact_words = {w for src in fact_list + title_list for w in norm_words(src)}
        rest = " ".join(w for w in norm_words(residual) if w not in fact_words)
        cjk = len(CJK.findall(rest))
        latin = len(_LATIN_LETTER.findall(rest))
        if latin and cjk < latin:
            return "language"
    return None


def _invented_in_text(
    text: str,
    residual: str,
    lang: str,
    fact_list: list[str],
    title_list: list[str],
    catalog_titles: CatalogTitles | None,
) -> bool:
    """Free text names an item it was not given: quoted, from the catalog, or (en-US) a capitalised name."""
    norm_titles = [" ".join(norm_words(t)) for t in title_list]
    norm_facts = [" ".join(norm_words(f)) for f in fact_list]
    for pat in _QUOTED:
        for m in pat.finditer(text):
            q = " ".join(norm_words(m.group(1))).rstrip(" .…")
            if q and not any(q in t or (t and t in q) for t in norm_titles + norm_facts):
                return True
    if catalog_titles is not None and catalog_titles.find_other(residual, title_list):
        return True
    if lang != "en-US":
        return False
    probe = CopyRequest(user_id="", item_title=" ".join(title_list), reason=" ".join(fact_list))
    return _invented_capitalised(residual, probe) is not None
