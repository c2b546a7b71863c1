"""Thread-safe LRU of written copy, keyed by item x stage x channel x locale x variant (x user).

With a ``db_path`` the good entries are also kept in SQLite, so copy written by a batch job
(``recsvc copy warm``) or by one server process serves every other process, and survives restarts.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

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

    def __init__(
        self, max_size: int, negative_ttl_s: float, db_path: str | Path | None = None, *, table: str = "copy_cache"
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"cache table name must be an identifier, got {table!r}")
        self._table = table
        self._max = max_size
        self._neg_ttl = negative_ttl_s
        self._data: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if db_path is not None:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(db_path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,"
                " cta TEXT NOT NULL, model TEXT NOT NULL)"
            )

    def _load(self, key: CacheKey) -> CacheEntry | None:
        if self._db is None:
            return None
        row = self._db.execute(
            f"SELECT title, body, cta, model FROM {self._table} WHERE key=?", (json.dumps(key, ensure_ascii=False),)
        ).fetchone()
        if row is None:
            return None
        return CacheEntry(Fields(row[0], row[1], row[2]), row[3], "", time.monotonic())

    def get(self, key: CacheKey) -> CacheEntry | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                entry = self._load(key)
                if entry is None:
                    return None
                self._data[key] = entry
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
            if self._db is not None and entry.fields is not None:
                f = entry.fields
                self._db.execute(
                    f"INSERT OR REPLACE INTO {self._table} (key, title, body, cta, model) VALUES (?, ?, ?, ?, ?)",
                    (json.dumps(key, ensure_ascii=False), f.title, f.body, f.cta, entry.model),
                )

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
