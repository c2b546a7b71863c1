"""Candidates in the reader's words: each item's title and description in the reader's locale, and
reasons said in that locale, naming an item of the user's history by its title in that locale too.

The recommender ranks in the catalog's default words and its answers are cached for every reader;
this runs per request on the few candidates shown. Their rows come from :class:`ItemRows`, which
reads the store once per item and forgets everything when the catalog changes (this process's
upserts at once, other processes' within ``engine.item_sync_s``, as the recs index learns of them).
:mod:`recsvc.catalog_text` decides which translation a locale gets.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from recsvc.catalog_text import ItemText, item_text
from recsvc.recs.serving import Candidate


class ItemLookup(Protocol):
    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...


class ItemRows:
    """Item rows by id, cached while ``catalog_version()`` stays the same (compared with ``==``).

    Every request localizes a few candidates; on a shared database each store read is a network round
    trip, and item rows change only through upserts, which bump the catalog version."""

    def __init__(self, store: ItemLookup, catalog_version: Callable[[], object], max_items: int = 100_000) -> None:
        self._store = store
        self._version = catalog_version
        self._max = max_items
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any] | None] = {}
        self._texts: dict[tuple[str, str], ItemText] = {}  # (item_id, locale): reading the attributes is not free
        self._seen_version: object = None

    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(item_ids))
        version = self._version()
        with self._lock:
            if version != self._seen_version or len(self._rows) + len(self._texts) > self._max:
                self._rows, self._texts, self._seen_version = {}, {}, version
            known = {i: self._rows[i] for i in ids if i in self._rows}
        missing = [i for i in ids if i not in known]
        if missing:
            found = self._store.items_by_id(missing)
            fetched = {i: found.get(i) for i in missing}  # an unknown item is remembered as unknown
            with self._lock:
                if self._seen_version == version:
                    self._rows.update(fetched)
            known.update(fetched)
        return {i: row for i, row in known.items() if row is not None}

    def texts(self, item_ids: Iterable[str], locale: str) -> dict[str, ItemText]:
        """Each known item's title and description for a reader in ``locale``."""
        rows = self.items_by_id(item_ids)
        with self._lock:
            out = {i: self._texts[(i, locale)] for i in rows if (i, locale) in self._texts}
        fresh = {i: item_text(row, locale) for i, row in rows.items() if i not in out}
        if fresh:
            with self._lock:
                self._texts.update({(i, locale): t for i, t in fresh.items()})
        return {**out, **fresh}


def localized(cands: Sequence[Candidate], locale: str, items: ItemRows) -> list[Candidate]:
    """``cands`` with titles, descriptions and reasons for a reader in ``locale``; a candidate whose
    item is not in the store keeps the recommender's words."""
    named = [c.why.item_id for c in cands if c.why is not None and c.why.item_id]
    texts = items.texts([*(c.item_id for c in cands), *named], locale)

    def title(item_id: str) -> str:
        text = texts.get(item_id)
        return text.title if text is not None else ""

    out = []
    for c in cands:
        text = texts.get(c.item_id) or ItemText(c.title, c.description)
        reason = c.why.text(locale, title) if c.why is not None else c.reason
        out.append(dataclasses.replace(c, title=text.title, description=text.description, reason=reason))
    return out
