"""Items reach this process's recs index: its own upserts at once, other processes' by sync.

Each server process holds its own FAISS index, so an ``UpsertItems`` taken by one process must
reach the others. They share the store, whose item stamps grow in commit order: a process indexes
the items stamped after its mark that it did not upsert itself. A look costs one index lookup and
happens at most every ``engine.item_sync_s``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from recsvc.catalog_text import all_titles
from recsvc.data.io import normalize_items, with_translations
from recsvc.engine.counters import Version
from recsvc.engine.models import ModelSet
from recsvc.settings import EngineConfig
from recsvc.store import EventStore

logger = logging.getLogger(__name__)


# Where a title's variant part begins: "Bamboo Classic Eye Cream, Travel Size", "竹语经典眼霜 旅行装".
_VARIANT = re.compile(r"\s*[,，(（]|(?<=[\u3400-\u9fff])\s+")


def item_names(items: pd.DataFrame) -> list[str]:
    """Every name the catalog's items go by (see :func:`names_of`)."""
    attributes = items["attributes"] if "attributes" in items else [None] * len(items)
    return [n for title, attrs in zip(items["title"], attributes, strict=True) for n in names_of(title, attrs)]


def names_of(title: str, attributes: str | None) -> list[str]:
    """The names one item goes by: its ``title`` and the localized titles kept as attributes
    (``title_zh``, ...), each also without its variant part, since a reply names "竹语经典眼霜" or
    "Bamboo Classic Eye Cream" rather than the full title. A guard that knows these catches a reply
    naming an item it was not given, in either language."""
    names = []
    for t in all_titles({"title": title, "attributes": attributes}):
        names.append(t)
        head = _VARIANT.split(t.strip(), maxsplit=1)[0]
        if head and head != t.strip():
            names.append(head)
    return names


class CatalogSync:
    """What this process has indexed of the shared catalog."""

    def __init__(
        self, store: EventStore, config: Callable[[], EngineConfig], serving: Callable[[], ModelSet | None]
    ) -> None:
        self._store = store
        self._config = config  # read per call: the engine's settings in force
        self._serving = serving  # the model set serving now, whose recs index items are added to
        self.version = Version()  # bumped whenever items are indexed: cached candidate lists predate them
        self._mark = 0.0  # items stamped after this are not indexed here yet, unless they are our own
        self._checked = 0.0  # time.monotonic() of the last look
        self._own: dict[str, float] = {}  # item_id -> stamp of our own upserts (already indexed)
        self._lock = threading.Lock()

    def indexed_through(self, mark: float) -> None:
        """A new recs model indexed the catalog up to stamp ``mark`` (the watermark when its load began)."""
        self._mark, self._own = mark, {}
        self.version.bump()  # the store's items may have changed with the new set (an import, say)

    def store_items(self, rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, float]:
        """Store ``rows`` (checked, with their extra columns as attributes); returns the checked items
        with their translations (``title_zh``, ...) and the stamp the store gave them."""
        raw = pd.DataFrame(rows)
        df = normalize_items(raw, "<UpsertItems>")
        extra = raw.drop(columns=[c for c in df.columns if c in rows[0]], errors="ignore")
        _, stamp = self._store.upsert_items_stamped(pd.concat([df, extra.reset_index(drop=True)], axis=1))
        return with_translations(df, raw), stamp

    def index_own(self, models: ModelSet, items: pd.DataFrame, stamp: float) -> int:
        """Index items this process just stored; a later sync knows them by their stamp and skips them."""
        indexed = models.recs.upsert_items(items, now=datetime.now(UTC))
        with self._lock:
            self._own.update(dict.fromkeys(items["item_id"].astype(str), stamp))
        self.version.bump()
        return int(indexed)

    def sync(self, *, force: bool = False) -> int:
        """Index items that other server processes upserted since the last look; returns how many."""
        now = time.monotonic()
        if not force and now - self._checked < self._config().item_sync_s:
            return 0
        if not self._lock.acquire(blocking=force):
            return 0  # another thread is syncing
        try:
            self._checked = now
            models = self._serving()
            if models is None or self._store.items_watermark() <= self._mark:
                return 0
            return self._index_theirs(models)
        finally:
            self._lock.release()

    def _index_theirs(self, models: ModelSet) -> int:
        changed = self._store.items_changed_since(self._mark)
        mark = float(changed["updated_at"].max())
        own = self._own
        theirs = changed[[own.get(i) != t for i, t in zip(changed["item_id"], changed["updated_at"], strict=True)]]
        n = 0
        if len(theirs):
            items = theirs.drop(columns=["updated_at"])  # attributes carry the translations
            n = int(models.recs.upsert_items(items, now=datetime.now(UTC)))
            self.version.bump()
            logger.info("indexed %d items upserted by other processes", n)
        self._mark = mark
        self._own = {i: t for i, t in own.items() if t > mark}
        return n
