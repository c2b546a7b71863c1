"""An item's title and description in the reader's locale.

A catalog translates an item in optional columns of the canonical items table, or attributes of
``UpsertItems`` (whose typed ``Item.localized`` map is stored the same way), named
``title_<locale>`` and ``description_<locale>``. ``<locale>`` is a language ("zh") or a language
with a script or region, joined by "-" or "_" ("zh-CN", "zh_CN", "zh-Hans"); case is ignored, so
``title_zh-CN``, ``title_zh_CN`` and ``title_zh_cn`` are one column.

For a reader's locale the most specific translation wins, then ever shorter prefixes of the locale
(``title_zh-TW``, then ``title_zh``), then those of the locale the copy is written in
(:func:`~recsvc.vocabulary.effective_locale`: a zh-TW reader gets zh-CN copy, so ``title_zh-CN``
beats the default title). Only an item with none of them shows its default ``title``; title and
description fall back separately. Every place that shows an item to a person takes its words from
here.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recsvc.vocabulary import effective_locale

LOCALIZED_FIELDS: tuple[str, ...] = ("title", "description")
_TAG = r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*"
_LOCALE_TAG = re.compile(rf"^{_TAG}$", re.IGNORECASE)
_COLUMN = re.compile(rf"^({'|'.join(LOCALIZED_FIELDS)})_({_TAG})$", re.IGNORECASE)


@dataclass(frozen=True)
class ItemText:
    """What a person reads about an item: its title and description in one locale."""

    title: str
    description: str = ""


def is_locale_tag(tag: str) -> bool:
    """Whether ``tag`` can name a translation: a language, optionally with script or region ("zh-CN")."""
    return bool(_LOCALE_TAG.match(tag))


def column_name(field: str, locale: str) -> str:
    """The column (or attribute) holding ``field`` in ``locale``: ``title_zh-CN`` for ("title", "zh-CN")."""
    return f"{field}_{locale}"


@functools.lru_cache(maxsize=4096)  # a catalog has few column and attribute names, seen on every read
def localized_column(name: str) -> tuple[str, str] | None:
    """(field, locale key) of a localized column name, e.g. ("title", "zh_cn") for ``title_zh-CN``;
    None for any other column."""
    m = _COLUMN.match(name.strip())
    return (m.group(1).lower(), _key(m.group(2))) if m else None


@functools.lru_cache(maxsize=256)
def lookup_chain(locale: str) -> tuple[str, ...]:
    """Locale keys to try for ``locale``, most specific first: the locale and its prefixes, then the
    locale the copy is written in and its prefixes (``zh-TW`` -> zh_tw, zh, zh_cn)."""
    out: list[str] = []
    for loc in (locale, effective_locale(locale)):
        parts = _key(loc).split("_") if is_locale_tag(loc.strip()) else []
        for n in range(len(parts), 0, -1):
            key = "_".join(parts[:n])
            if key not in out:
                out.append(key)
    return tuple(out)


def translations(row: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """{(field, locale key): text} of a row's localized columns and of its ``attributes`` (a JSON
    object or a mapping, as the store keeps them; a column wins over an attribute); blank texts are
    no translation."""
    out: dict[tuple[str, str], str] = {}
    _collect(row, out)
    attrs = row.get("attributes")
    if isinstance(attrs, str):
        try:
            attrs = json.loads(attrs or "{}")
        except ValueError:
            attrs = None  # a damaged attributes value hides translations, never the item
    if isinstance(attrs, Mapping):
        _collect(attrs, out)
    return out


def item_text(row: Mapping[str, Any], locale: str) -> ItemText:
    """The row's title and description for a reader in ``locale`` (see the module's fallback rules)."""
    found = translations(row)
    chain = lookup_chain(locale)

    def pick(field: str) -> str:
        for key in chain:
            if (field, key) in found:
                return found[(field, key)]
        return _text(row.get(field))

    return ItemText(title=pick("title"), description=pick("description"))


def all_titles(row: Mapping[str, Any]) -> list[str]:
    """The row's default title and every translated title: all the names a person may see it by."""
    titles = [_text(row.get("title"))]
    titles += [t for (field, _), t in translations(row).items() if field == "title"]
    return list(dict.fromkeys(t for t in titles if t))


def _collect(values: Mapping[Any, Any], out: dict[tuple[str, str], str]) -> None:
    """Add the translations among ``values`` to ``out`` (what ``out`` has already is kept)."""
    for name, value in values.items():
        if isinstance(value, str) and isinstance(name, str) and (col := localized_column(name)) is not None:
            text = value.strip()
            if text and col not in out:
                out[col] = text


def _key(locale: str) -> str:
    return locale.strip().lower().replace("-", "_")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
