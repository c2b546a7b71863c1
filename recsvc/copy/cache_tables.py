"""Where the copy cache keeps good entries beyond one process: a table in the store's database.

On SQLite it is a table in the store's file; on PostgreSQL one ``copy_cache`` table (a ``kind``
column tells whole messages from hooks) reached through the store's connection pool. Either way,
copy written by one server process or by ``recsvc copy warm`` serves every other process and host,
and survives restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from recsvc.store.sqlite_connect import connect_sqlite

if TYPE_CHECKING:
    from recsvc.store.protocol import EventStore

_READ_TIMEOUT_S = 1.0

# title, body, call to action, the model that wrote it
CachedRow = tuple[str, str, str, str]


class CacheTable(Protocol):
    def load(self, key: str) -> CachedRow | None: ...

    def save(self, key: str, row: CachedRow) -> None: ...

    def close(self) -> None: ...


class CacheBacking(Protocol):
    """Opens the table of one kind of copy (``copy_cache`` for messages, ``hook_cache`` for hooks)."""

    def table(self, name: str) -> CacheTable: ...


class SQLiteCacheTable:
    def __init__(self, path: str | Path, table: str) -> None:
        if not table.isidentifier():
            raise ValueError(f"cache table name must be an identifier, got {table!r}")
        self._table = table
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a lost cache row is written again on the next miss, so no fsync per write
        self._db: sqlite3.Connection | None = connect_sqlite(path, durable=False)
        self._lock = threading.Lock()
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,"
            " cta TEXT NOT NULL, model TEXT NOT NULL)"
        )

    def load(self, key: str) -> CachedRow | None:
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute(f"SELECT title, body, cta, model FROM {self._table} WHERE key=?", (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def save(self, key: str, row: CachedRow) -> None:
        with self._lock:
            if self._db is not None:
                self._db.execute(
                    f"INSERT OR REPLACE INTO {self._table} (key, title, body, cta, model) VALUES (?, ?, ?, ?, ?)",
                    (key, *row),
                )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class SQLiteCacheBacking:
    def __init__(self, path: str | Path) -> None:
        self.path = path

    def table(self, name: str) -> CacheTable:
        return SQLiteCacheTable(self.path, name)


class PgCacheTable:
    """Rows of one kind in PostgreSQL's ``copy_cache``; the pool belongs to the store, not to this table."""

    def __init__(self, pool: Any, kind: str) -> None:
        self._pool = pool
        self._kind = kind

    def load(self, key: str) -> CachedRow | None:
        # A request waits on this read: give up soon when the pool is exhausted or the database is away.
        with self._pool.connection(timeout=_READ_TIMEOUT_S) as conn, conn.cursor() as cur:
            cur.execute("SELECT title, body, cta, model FROM copy_cache WHERE kind=%s AND key=%s", (self._kind, key))
            row = cur.fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def save(self, key: str, row: CachedRow) -> None:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO copy_cache (kind, key, title, body, cta, model) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (kind, key) DO UPDATE SET title=EXCLUDED.title, body=EXCLUDED.body, "
                "cta=EXCLUDED.cta, model=EXCLUDED.model, written_at=now()",
                (self._kind, key, *row),
            )

    def close(self) -> None:
        pass


class PgCacheBacking:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def table(self, name: str) -> CacheTable:
        return PgCacheTable(self._pool, name)


def backing_for(store: EventStore) -> CacheBacking:
    """The cache's tables beside ``store``: in its SQLite file, or in its PostgreSQL database."""
    from recsvc.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteCacheBacking(store.path)
    from recsvc.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return PgCacheBacking(store.pool)
    raise TypeError(f"no copy cache tables for {type(store).__name__}")
