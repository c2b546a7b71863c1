"""Thread-safe LRU of written copy, keyed by item x stage x channel x locale x variant (x user)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

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

    def __init__(self, max_size: int, negative_ttl_s: float) -> None:
        self._max = max_size
        self._neg_ttl = negative_ttl_s
        self._data: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CacheEntry | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if not entry.ok and time.monotonic() - entry.created > self._neg_ttl:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        if not entry.created:
            entry = CacheEntry(entry.fields, entry.model, entry.failed_rule, time.monotonic())
        with self._lock:
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
