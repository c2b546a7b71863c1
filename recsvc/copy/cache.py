"""Thread-safe LRU of written copy, keyed by item x stage x channel x locale x variant (x user).

With a backing table (:mod:`recsvc.copy.cache_tables`: in the store's SQLite file or PostgreSQL
database) the good entries are also kept there, so copy written by a batch job (``recsvc copy warm``)
or by one server process serves every other process and host, and survives restarts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from recsvc.copy.cache_tables import CacheTable
from recsvc.copy.guardrails import Fields

logger = logging.getLogger(__name__)

CacheKey = tuple[str, ...]


@dataclass(frozen=True)
class CacheEntry:
    """LLM copy that passed the guardrails (``fields``), or a remembered failure (``failed_rule``)."""

    fields: Fields | None
    model: str
    failed_rule: str = ""
    created: float = 0.0

    @property
    def ok(self) -> bool:
        return self.fields is not None


class CopyCache:
    """Bounded LRU; failures expire after ``negative_ttl_s`` so the LLM gets another go later."""

    def __init__(self, max_size: int, negative_ttl_s: float, table: CacheTable | None = None) -> None:
        self._max = max_size
        self._neg_ttl = negative_ttl_s
        self._data: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._table = table

    def _load(self, key: CacheKey) -> CacheEntry | None:
        if self._table is None:
            return None
        try:
            row = self._table.load(json.dumps(key, ensure_ascii=False))
        except Exception:  # the shared table is an optimisation: a dead database means a cache miss
            logger.warning("copy cache: reading the shared table failed", exc_info=True)
            return None
        if row is None:
            return None
        return CacheEntry(Fields(row[0], row[1], row[2]), row[3], "", time.monotonic())

    def get(self, key: CacheKey) -> CacheEntry | None:
        with self._lock:
            entry = self._data.get(key)
        if entry is None:
            # Read the shared table outside the lock: a database round trip must not serialise every request.
            entry = self._load(key)
            if entry is None:
                return None
        with self._lock:
            if not entry.ok and time.monotonic() - entry.created > self._neg_ttl:
                self._data.pop(key, None)
                return None
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)
            return entry

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        if not entry.created:
            entry = CacheEntry(entry.fields, entry.model, entry.failed_rule, time.monotonic())
        with self._lock:
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)
        if self._table is not None and entry.fields is not None:
            f = entry.fields
            try:
                self._table.save(json.dumps(key, ensure_ascii=False), (f.title, f.body, f.cta, entry.model))
            except Exception:  # as in _load: the entry still serves this process
                logger.warning("copy cache: writing the shared table failed", exc_info=True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        with self._lock:
            table, self._table = self._table, None
        if table is not None:
            table.close()
