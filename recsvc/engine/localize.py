"""Candidates in the reader's words: each item's title and description in the reader's locale, and
reasons said in that locale, naming an item of the user's history by its title in that locale too.

The recommender ranks in the catalog's default words and its answers are cached for every reader;
this runs per request on the few candidates shown, with their rows read from the store in one
query. :mod:`recsvc.catalog_text` decides which translation a locale gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from recsvc.catalog_text import ItemText, item_text
from recsvc.recs.serving import Candidate
from recsvc.store import EventStore


def localized(cands: Sequence[Candidate], locale: str, store: EventStore) -> list[Candidate]:
    """``cands`` with titles, descriptions and reasons for a reader in ``locale``; a candidate whose
    item is not in the store keeps the recommender's words."""
    named = [c.why.item_id for c in cands if c.why is not None and c.why.item_id]
    rows = store.items_by_id([*(c.item_id for c in cands), *named])

    def title(item_id: str) -> str:
        row = rows.get(item_id)
        return item_text(row, locale).title if row is not None else ""

    out = []
    for c in cands:
        row = rows.get(c.item_id)
        text = item_text(row, locale) if row is not None else ItemText(c.title, c.description)
        reason = c.why.text(locale, title) if c.why is not None else c.reason
        out.append(dataclasses.replace(c, title=text.title, description=text.description, reason=reason))
    return out
