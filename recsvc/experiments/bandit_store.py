"""Bandit counts in the shared store, so they survive restarts and every server process learns from all.

Table ``bandit_arms(context, variant_set, variant, alpha, beta, updated_at)``, one row per arm of
each bandit. An update is one ``INSERT ... ON CONFLICT DO UPDATE SET alpha = alpha + ...`` statement:
the database serialises concurrent increments of a row, so no process ever overwrites another's
update (a read-modify-write in Python would lose them). On PostgreSQL the table comes from the
schema migrations; on SQLite it is created when the state is opened.
A row's alpha and beta include the prior it was created with, so a changed prior applies to arms
seen afterwards (and to every arm of a new variant set), never retroactively.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

from recsvc.store.protocol import EventStore
from recsvc.store.sqlite import SQLiteStore
from recsvc.store.sqlite_connect import connect_sqlite

_SQLITE_TABLE = """
CREATE TABLE IF NOT EXISTS bandit_arms (
  context TEXT NOT NULL,
  variant_set TEXT NOT NULL,
  variant TEXT NOT NULL,
  alpha REAL NOT NULL,
  beta REAL NOT NULL,
  updated_at REAL NOT NULL,
  PRIMARY KEY (context, variant_set, variant)
)
"""
_SELECT = "SELECT variant, alpha, beta FROM bandit_arms WHERE context = {p} AND variant_set = {p}"
# Both SQLite (>= 3.24) and PostgreSQL read this UPSERT the same way; only the placeholder differs.
_UPSERT = (
    "INSERT INTO bandit_arms (context, variant_set, variant, alpha, beta, updated_at) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (context, variant_set, variant) DO UPDATE SET "
    "alpha = bandit_arms.alpha + {p}, beta = bandit_arms.beta + {p}, updated_at = EXCLUDED.updated_at"
)


def _upsert_row(
    context: str, variant_set: str, variant: str, successes: float, failures: float, prior: tuple[float, float]
) -> tuple[object, ...]:
    """The parameters of ``_UPSERT``: a new row starts at the prior plus this update; an existing one adds it."""
    return (context, variant_set, variant, prior[0] + successes, prior[1] + failures, time.time(), successes, failures)


class SQLiteBanditState:
    """Bandit counts in the SQLite store's file (each increment is its own write transaction).

    Reads go through connections of their own in autocommit mode: the store's transactions take the
    write lock (``BEGIN IMMEDIATE``), which a choice on every request must not contend for.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self._local = threading.local()
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        with store.tx() as c:
            c.execute(_SQLITE_TABLE)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_sqlite(self.store.path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._readers:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._readers.clear()
        self._local = threading.local()

    def params(self, context: str, variant_set: str) -> dict[str, tuple[float, float]]:
        rows = self._reader().execute(_SELECT.format(p="?"), (context, variant_set)).fetchall()
        return {str(r[0]): (float(r[1]), float(r[2])) for r in rows}

    def increment(
        self,
        context: str,
        variant_set: str,
        variant: str,
        successes: float,
        failures: float,
        prior: tuple[float, float],
    ) -> None:
        with self.store.tx() as c:
            c.execute(
                _UPSERT.format(p="?"),
                _upsert_row(context, variant_set, variant, successes, failures, prior),
            )


class PostgresBanditState:
    """Bandit counts in the PostgreSQL store, through its connection pool."""

    def __init__(self, store: object) -> None:
        from recsvc.store.postgres import PostgresStore

        if not isinstance(store, PostgresStore):
            raise TypeError(f"PostgresBanditState needs a PostgresStore, got {type(store).__name__}")
        self.store = store

    def close(self) -> None:
        """Nothing of its own to close: the pool is the store's."""

    def params(self, context: str, variant_set: str) -> dict[str, tuple[float, float]]:
        with self.store.connection() as conn, conn.cursor() as cur:
            cur.execute(_SELECT.format(p="%s"), (context, variant_set))
            rows = cur.fetchall()
        return {str(r[0]): (float(r[1]), float(r[2])) for r in rows}

    def increment(
        self,
        context: str,
        variant_set: str,
        variant: str,
        successes: float,
        failures: float,
        prior: tuple[float, float],
    ) -> None:
        with self.store.connection() as conn:
            conn.execute(
                _UPSERT.format(p="%s"),
                _upsert_row(context, variant_set, variant, successes, failures, prior),
            )


def open_bandit_state(store: EventStore) -> SQLiteBanditState | PostgresBanditState:
    """The bandit state kept in ``store``, whichever backend it is."""
    if isinstance(store, SQLiteStore):
        return SQLiteBanditState(store)
    return PostgresBanditState(store)
