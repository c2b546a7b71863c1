"""Guardrails every message passes before it is sent, whoever wrote it (LLM or template).

A small model invents prices, products, links and phone numbers; these rules only let through text
whose numbers, names and links all come from the facts in the request. ``check`` returns the name of
the first failed rule so metrics and the API can say *why* a template answered instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from recsvc.copy.config import CopyConfig
from recsvc.copy.types import CopyRequest

logger = logging.getLogger(__name__)

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
    "language",
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
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


def _norm_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _title_variants(title: str) -> set[str]:
    """Normalised spellings of a catalog title: as is, without '(1995)'-style parts, 'Name, The' reordered."""
    out: set[str] = set()
    base = title.strip()
    if not base:
        return out
    cands = {base, re.sub(r"\s*[(\[（【][^)\]）】]*[)\]）】]\s*", " ", base).strip()}
    for c in list(cands):
        m = re.match(r"^(.*),\s*(the|a|an|le|la|les|el|il|der|die|das)$", c, re.IGNORECASE)
        if m:
            cands.add(f"{m.group(2)} {m.group(1)}")
            cands.add(m.group(1))
    for c in cands:
        words = _norm_words(c)
        if words:
            out.add(" ".join(words))
    return out


class CatalogTitles:
    """Index of known item titles, to catch a message naming a *different* catalog item.

    Lookup scans word spans (and CJK character spans) of the text against a set, so the cost grows
    with the text, not with the catalog. Very short one-word titles are skipped: they collide with
    ordinary words ("Heat", "Big").
    """

    def __init__(self, titles: Iterable[str]) -> None:
        self._titles: set[str] = set()
        self._max_words = 1
        self._max_cjk = 2
        for t in titles:
            for v in _title_variants(str(t)):
                words = v.split(" ")
                cjk = len(_CJK.findall(v))
                if len(words) < 2 and len(v) < 8 and cjk < 3:
                    continue
                self._titles.add(v)
                self._max_words = max(self._max_words, len(words))
                if cjk:
                    self._max_cjk = max(self._max_cjk, len(v.replace(" ", "")))
        self._max_words = min(self._max_words, 12)
        self._max_cjk = min(self._max_cjk, 30)

    def __len__(self) -> int:
        return len(self._titles)

    def find_other(self, text: str, given_title: str | Iterable[str]) -> str | None:
        """The first known title in ``text`` that is not (part of) a given title, else None."""
        if not self._titles:
            return None
        givens = [given_title] if isinstance(given_title, str) else list(given_title)
        given = [" ".join(_norm_words(g)) for g in givens]
        given_compact = [g.replace(" ", "") for g in given]
        words = _norm_words(text)
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + self._max_words) + 1):
                cand = " ".join(words[i:j])
                if cand in self._titles and not any(cand in g for g in given):
                    return cand
        for run in _CJK_RUN.findall(text):
            for i in range(len(run)):
                for j in range(i + 2, min(len(run), i + self._max_cjk) + 1):
                    cand = run[i:j]
                    if cand in self._titles and not any(cand in g for g in given_compact):
                        return cand
        return None


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


def format_price(price: float | None, currency: str, locale: str) -> str:
    """Price as shown in copy; the number rule accepts exactly this value."""
    if price is None:
        return ""
    cur = (currency or "").upper()
    amount = f"{price:.0f}" if abs(price - round(price)) < 1e-9 else f"{price:.2f}"
    symbols = {"USD": "$", "CNY": "¥", "RMB": "¥", "EUR": "€", "GBP": "£", "JPY": "¥"}
    if cur in symbols:
        return f"{symbols[cur]}{amount}"
    if not cur:
        return f"¥{amount}" if locale == "zh-CN" else f"${amount}"
    return f"{amount} {cur}"


_SYMBOLS = {"$": "$", "€": "€", "£": "£", "¥": "¥", "￥": "¥"}
_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "RMB": "¥", "JPY": "¥"}


def _wrong_currency(text: str, req: CopyRequest) -> bool:
    """A price in another currency than the item's ("$71.90" for a ¥71.90 item) is an invented fact."""
    given = format_price(1.0, req.currency, req.lang)[:1]
    if given not in _SYMBOLS.values():
        return False
    shown = {_SYMBOLS[ch] for ch in text if ch in _SYMBOLS}
    shown |= {sym for code, sym in _CODES.items() if re.search(rf"\b{code}\b", text)}
    return bool(shown - {given})


def _to_number(token: str) -> float | None:
    t = token
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", t):
        t = t.replace(",", "")
    elif "," in t and "." not in t and re.fullmatch(r"\d+,\d{1,2}", t):
        t = t.replace(",", ".")
    elif "," in t:
        return None
    try:
        return float(t)
    except ValueError:
        return None


def allowed_numbers(req: CopyRequest) -> list[float]:
    """Numbers the copy may contain: the price, the offer's numbers, and numbers inside given facts."""
    out: list[float] = []
    if req.price is not None:
        out.append(float(req.price))
    for src in (req.offer or "", req.item_title, req.reason, req.city):
        for tok in _NUMBER.findall(src):
            v = _to_number(tok)
            if v is not None:
                out.append(v)
    return out


def _strip_facts(text: str, req: CopyRequest, extra: Iterable[str] = ()) -> str:
    """Remove given facts, so rules only judge what the writer added."""
    facts = [req.item_url, req.item_title, req.first_name, req.city, req.offer or "", req.reason, *extra]
    out = text
    for f in sorted({f.strip() for f in facts if f and f.strip()}, key=len, reverse=True):
        out = re.sub(re.escape(f), " ", out, flags=re.IGNORECASE)
    return out


def _fact_words(req: CopyRequest) -> set[str]:
    words: set[str] = set()
    for src in (req.item_title, req.first_name, req.city, req.offer or "", req.reason, req.currency):
        words.update(_norm_words(src))
    return words


def _quote_ok(quote: str, req: CopyRequest, fields: Fields) -> bool:
    q = " ".join(_norm_words(quote))
    if not q:
        return True
    given = " ".join(_norm_words(req.item_title))
    okays = [given, " ".join(_norm_words(req.offer or "")), " ".join(_norm_words(fields.cta))]
    okays += [" ".join(_norm_words(x)) for x in (req.first_name, req.city)]
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
        residual = " ".join(w for w in _norm_words(_strip_facts(text, req)) if w not in fact_words)
        cjk = len(_CJK.findall(residual))
        latin = len(_LATIN_LETTER.findall(residual))
        return cjk < 2 or cjk < latin
    cjk_chars = [c for c in _CJK.findall(text) if c not in fact_chars]
    if cjk_chars:
        return True
    # Characters of a (possibly shortened) non-Latin item title are facts, not the writer's language.
    letters = [c for c in _LETTER.findall(_strip_facts(text, req)) if c not in fact_chars or c.isascii()]
    if not letters:
        return False
    latin = sum(1 for c in letters if _LATIN_LETTER.match(c))
    return latin < 0.9 * len(letters)


def check(
    msg_fields: Mapping[str, str] | object,
    req: CopyRequest,
    config: CopyConfig,
    *,
    catalog_titles: CatalogTitles | None = None,
) -> str | None:
    """Name of the first failed rule (see ``RULES``), or None when the message may be sent."""
    f = as_fields(msg_fields)
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
    residual = _strip_facts(f.text, req)
    low = residual.lower()
    for word in config.banned_words:
        w = word.lower()
        if re.search(r"[a-z0-9]", w):
            if re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", low):
                return "banned_word"
        elif w in low:
            return "banned_word"
    no_urls = _URL.sub(" ", residual.replace(req.item_url, " ") if req.item_url else residual)
    allowed = allowed_numbers(req)

    def is_allowed(tok: str) -> bool:
        v = _to_number(tok)
        return v is not None and any(abs(v - a) < 0.005 for a in allowed)

    # Given numbers (price, offer) are masked so "$1,299 - 20%" is not mistaken for a phone number.
    masked = _NUMBER.sub(lambda m: "N" if is_allowed(m.group(0)) else m.group(0), no_urls)
    if _EMAIL.search(residual):
        return "personal_data"
    for m in _PHONE.finditer(masked):
        if sum(ch.isdigit() for ch in m.group(0)) >= 7:
            return "personal_data"
    if _LONG_DIGITS.search(masked) or _ADDRESS_EN.search(masked) or _ADDRESS_ZH.search(masked):
        return "personal_data"
    if _URL.search(residual):
        return "link"
    if _wrong_currency(f.text, req):
        return "number"
    # A number must also play its given role: "45% off" is not the $45 price, "$10" is not "10% off".
    price_like = [float(req.price)] if req.price is not None else []
    offer_like: list[float] = []
    for src in (req.offer or "", req.item_title, req.reason):
        for om in _NUMBER.finditer(src):
            ov = _to_number(om.group(0))
            if ov is None:
                continue
            offer_like.append(ov)
            if not src[om.end() :].lstrip().startswith(("%", "折", "percent")):
                price_like.append(ov)  # "$10 off", "立减20元": an amount, so it may follow a currency sign
    for m in _NUMBER.finditer(no_urls):
        tok = m.group(0)
        if not is_allowed(tok):
            return "number"
        v = _to_number(tok) or 0.0
        after = no_urls[m.end() : m.end() + 9].lstrip().lower()
        before = no_urls[max(0, m.start() - 2) : m.start()].rstrip()
        if after.startswith(("%", "折", "percent")) and not any(abs(v - a) < 0.005 for a in offer_like):
            return "number"
        if before.endswith(("$", "€", "£", "¥")) and not any(abs(v - a) < 0.005 for a in price_like):
            return "number"
    for pat in _QUOTED:
        for m in pat.finditer(f.text):
            if not _quote_ok(m.group(1), req, f):
                return "invented_item"
    if catalog_titles is not None and catalog_titles.find_other(_strip_facts(f.text, req), req.item_title):
        return "invented_item"
    if req.lang == "en-US" and _invented_capitalised(_strip_facts(f.body, req), req):
        return "invented_item"
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
    residual = text
    for f in sorted({f.strip() for f in fact_list + title_list}, key=len, reverse=True):
        residual = re.sub(re.escape(f), " ", residual, flags=re.IGNORECASE)
    low = residual.lower()
    for word in config.banned_words:
        w = word.lower()
        if (
            re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", low)
            if re.search(r"[a-z0-9]", w)
            else w in low
        ):
            return "banned_word"
    allowed: list[float] = []
    for src in fact_list + title_list:
        for tok in _NUMBER.findall(src):
            v = _to_number(tok)
            if v is not None:
                allowed.append(v)

    def is_allowed(tok: str) -> bool:
        v = _to_number(tok)
        return v is not None and any(abs(v - a) < 0.005 for a in allowed)

    if _EMAIL.search(residual):
        return "personal_data"
    masked = _NUMBER.sub(lambda m: "N" if is_allowed(m.group(0)) else m.group(0), _URL.sub(" ", residual))
    for m in _PHONE.finditer(masked):
        if sum(ch.isdigit() for ch in m.group(0)) >= 7:
            return "personal_data"
    if _LONG_DIGITS.search(masked) or _ADDRESS_EN.search(masked) or _ADDRESS_ZH.search(masked):
        return "personal_data"
    if _URL.search(residual):
        return "link"
    for tok in _NUMBER.findall(_URL.sub(" ", residual)):
        if not is_allowed(tok):
            return "number"
    norm_titles = [" ".join(_norm_words(t)) for t in title_list]
    norm_facts = [" ".join(_norm_words(f)) for f in fact_list]
    for pat in _QUOTED:
        for m in pat.finditer(text):
            q = " ".join(_norm_words(m.group(1))).rstrip(" .…")
            if q and not any(q in t or (t and t in q) for t in norm_titles + norm_facts):
                return "invented_item"
    if catalog_titles is not None and catalog_titles.find_other(residual, title_list):
        return "invented_item"
    fact_words: set[str] = set()
    for src in fact_list + title_list:
        fact_words.update(_norm_words(src))
    if lang == "en-US":
        probe = CopyRequest(user_id="", item_title=" ".join(title_list), reason=" ".join(fact_list))
        if _invented_capitalised(residual, probe):
            return "invented_item"
        fact_chars = set("".join(fact_list + title_list))
        if any(c not in fact_chars for c in _CJK.findall(text)):
            return "language"
    else:
        rest = " ".join(w for w in _norm_words(residual) if w not in fact_words)
        cjk = len(_CJK.findall(rest))
        latin = len(_LATIN_LETTER.findall(rest))
        if latin and cjk < latin:
            return "language"
    return None
