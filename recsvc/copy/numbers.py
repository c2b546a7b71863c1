"""Numbers in copy: how a price is written, and which numbers a message may contain.

A small model invents prices and figures, so the guardrails accept only numbers that come from the
request's facts (price, offer, title, reason, city), in the role the facts give them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from recsvc.copy.types import CopyRequest

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


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


def wrong_currency(text: str, req: CopyRequest) -> bool:
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


def numbers_in(sources: Iterable[str]) -> list[float]:
    """Every number written in ``sources`` ("1,299" and "12,5" read as 1299 and 12.5)."""
    out: list[float] = []
    for src in sources:
        for tok in _NUMBER.findall(src):
            v = _to_number(tok)
            if v is not None:
                out.append(v)
    return out


def _near_any(v: float, values: Iterable[float]) -> bool:
    return any(abs(v - a) < 0.005 for a in values)


def is_given(tok: str, allowed: list[float]) -> bool:
    """The number token is one of ``allowed`` (to the cent)."""
    v = _to_number(tok)
    return v is not None and _near_any(v, allowed)


def all_given(text: str, allowed: list[float]) -> bool:
    """Every number in ``text`` is one of ``allowed``."""
    return all(is_given(tok, allowed) for tok in _NUMBER.findall(text))


def allowed_numbers(req: CopyRequest) -> list[float]:
    """Numbers the copy may contain: the price, the offer's numbers, and numbers inside given facts."""
    out: list[float] = []
    if req.price is not None:
        out.append(float(req.price))
    if req.price_dropped_from is not None:
        out.append(float(req.price_dropped_from))
    return out + numbers_in((req.offer or "", req.item_title, req.reason, req.city))


def mask_given(text: str, allowed: list[float]) -> str:
    """``text`` with each given number replaced by "N", so rules on digits only see invented ones."""
    return _NUMBER.sub(lambda m: "N" if is_given(m.group(0), allowed) else m.group(0), text)


def number_failed(text: str, req: CopyRequest, allowed: list[float]) -> bool:
    """A number in ``text`` that is not given, or not in its given role.

    "45% off" is not the $45 price, "$10" is not "10% off".
    """
    price_like = [float(p) for p in (req.price, req.price_dropped_from) if p is not None]
    offer_like: list[float] = []
    for src in (req.offer or "", req.item_title, req.reason):
        for om in _NUMBER.finditer(src):
            ov = _to_number(om.group(0))
            if ov is None:
                continue
            offer_like.append(ov)
            if not src[om.end() :].lstrip().startswith(("%", "折", "percent")):
                price_like.append(ov)  # "$10 off", "立减20元": an amount, so it may follow a currency sign
    for m in _NUMBER.finditer(text):
        tok = m.group(0)
        if not is_given(tok, allowed):
            return True
        v = _to_number(tok) or 0.0
        after = text[m.end() : m.end() + 9].lstrip().lower()
        before = text[max(0, m.start() - 2) : m.start()].rstrip()
        if after.startswith(("%", "折", "percent")) and not _near_any(v, offer_like):
            return True
        if before.endswith(("$", "€", "£", "¥")) and not _near_any(v, price_like):
            return True
    return False
