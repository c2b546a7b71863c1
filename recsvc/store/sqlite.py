"""The embedded store: SQLite in WAL mode for users, items and events.

Why SQLite: one file, no server to run, safe for several server processes on one machine, and an
acknowledged write survives ``kill -9`` (WAL with ``synchronous=FULL``). Each thread gets its own
connection, since sqlite3 connections must not be shared across threads. Frequency caps and sends
live in the same file, in tables owned by :mod:`recsvc.frequency.caps`; event writes take a
``derive`` callback so those tables change in the transaction that stores the events.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from recsvc.data.io import ITEM_COLUMNS, USER_COLUMNS
from recsvc.store.rows import (
    EVENT_DB_COLS,
    ITEM_DB_COLS,
    USER_DB_COLS,
    Derive,
    FeedbackRow,
    HistoryRow,
    IngestResult,
    event_import_rows,
    event_row_values,
    events_frame,
    items_frame,
    stock_before,
    with_attributes,
    with_restocks,
)
from recsvc.store.sqlite_connect import connect_sqlite

logger = logging.getLogger(__name__)

BULK_CACHE_KIB = 1024 * 1024  # page cache while bulk-loading events

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY,
  signup_ts REAL,
  timezone TEXT NOT NULL DEFAULT '',
  locale TEXT NOT NULL DEFAULT '',
  city TEXT NOT NULL DEFAULT '',
  country TEXT NOT NULL DEFAULT '',
  push_opt_in INTEGER NOT NULL DEFAULT 1,
  sms_opt_in INTEGER NOT NULL DEFAULT 1,
  email_opt_in INTEGER NOT NULL DEFAULT 1,
  quiet_hours TEXT NOT NULL DEFAULT '',
  first_name TEXT NOT NULL DEFAULT '',
  attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS items (
  item_id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  price REAL,
  currency TEXT NOT NULL DEFAULT '',
  image_url TEXT NOT NULL DEFAULT '',
  video_url TEXT NOT NULL DEFAULT '',
  audio_url TEXT NOT NULL DEFAULT '',
  in_stock INTEGER NOT NULL DEFAULT 1,
  cities TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  attributes TEXT NOT NULL DEFAULT '{}',
  updated_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  ts REAL NOT NULL,
  event_type TEXT NOT NULL,
  item_id TEXT,
  quantity REAL,
  value REAL,
  channel TEXT,
  campaign_id TEXT,
  variant TEXT,
  lat REAL,
  lon REAL,
  city TEXT,
  payload TEXT,
  ts_offset_min INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_user_ts ON events(user_id, ts);
CREATE INDEX IF NOT EXISTS items_updated ON items(updated_at);
"""


def _upsert_sql(table: str, cols: Sequence[str]) -> str:
    return f"INSERT OR REPLACE INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"


class SQLiteStore:
    """Thread-safe access to the SQLite file; one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._conn().executescript(_SCHEMA)  # executescript manages its own transaction

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_sqlite(self.path)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._conns.clear()
        self._local = threading.local()

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    # ---- events -------------------------------------------------------------------------
    def add_events(
        self, rows: Sequence[dict[str, Any]], *, derive: Derive | None = None
    ) -> tuple[IngestResult, list[bool]]:
        """Insert events idempotently; returns counts and, per row, whether it was new.

        ``derive(cursor, new_rows)`` runs inside the same transaction, so state other modules keep
        from events (opt-outs, feedback) commits with them or not at all.
        """
        if not rows:
            return IngestResult(0, 0), []
        new_flags: list[bool] = []
        new_rows: list[dict[str, Any]] = []
        with self.tx() as c:
            for row in rows:
                vals = event_row_values(row)
                cur = c.execute(
                    f"INSERT OR IGNORE INTO events ({','.join(EVENT_DB_COLS)}) VALUES ({','.join('?' * len(vals))})",
                    vals,
                )
                new_flags.append(cur.rowcount == 1)
                if cur.rowcount == 1:
                    new_rows.append(dict(zip(EVENT_DB_COLS, vals, strict=True)))
            if derive is not None and new_rows:
                derive(c.cursor(), new_rows)
        acc = sum(new_flags)
        return IngestResult(acc, len(rows) - acc), new_flags

    def import_events(self, df: pd.DataFrame, *, chunk: int = 50_000, derive: Derive | None = None) -> IngestResult:
        """Bulk-load a canonical events frame (demo data, backfills); ``derive`` as in :meth:`add_events`."""
        # In user order, each transaction writes one stretch of the (user, time) index instead of
        # pages all over it; a user's events keep their order, which is all that reads rely on.
        rows = event_import_rows(df.sort_values(["user_id", "ts"], kind="stable"))
        sql = f"INSERT OR IGNORE INTO events ({','.join(EVENT_DB_COLS)}) VALUES ({','.join('?' * len(EVENT_DB_COLS))})"
        accepted = 0
        conn = self._conn()
        # A log's events land all over the two indexes (user and time, event id): with SQLite's
        # default 2 MB page cache a load of millions of events rereads index pages for every row.
        (pages,) = conn.execute("PRAGMA cache_size").fetchone()
        conn.execute(f"PRAGMA cache_size={-BULK_CACHE_KIB}")
        try:
            for start in range(0, len(rows), chunk):
                with self.tx() as c:
                    top = self._max_seq(c)
                    changes = c.total_changes
                    c.executemany(sql, rows[start : start + chunk])
                    accepted += c.total_changes - changes  # rows inserted, not ignored
                    if derive is not None:
                        self._derive_after(c, derive, top)
        finally:
            conn.execute(f"PRAGMA cache_size={int(pages)}")
        return IngestResult(accepted, len(df) - accepted)

    def replay_events(self, derive: Derive, *, after_seq: int, event_types: Sequence[str], chunk: int = 100_000) -> int:
        """Run ``derive`` again over stored events of ``event_types`` with ``seq > after_seq``, each chunk in
        one transaction; returns the last ``seq`` covered. For rebuilding state that ``derive`` writes
        (it must be idempotent) for events that were stored without it."""
        types = tuple(event_types)
        top = self.max_event_seq()
        lo = after_seq
        while lo < top:
            hi = min(top, lo + chunk)
            with self.tx() as c:
                self._derive_after(c, derive, lo, through=hi, event_types=types)
            lo = hi
        return max(top, after_seq)

    @staticmethod
    def _max_seq(c: sqlite3.Connection) -> int:
        return int(c.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    @staticmethod
    def _derive_after(
        c: sqlite3.Connection,
        derive: Derive,
        after: int,
        *,
        through: int | None = None,
        event_types: Sequence[str] = (),
    ) -> None:
        sql = f"SELECT {','.join(EVENT_DB_COLS)} FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if through is not None:
            sql += " AND seq <= ?"
            params.append(through)
        if event_types:
            sql += f" AND event_type IN ({','.join('?' * len(event_types))})"
            params.extend(event_types)
        rows = [dict(zip(EVENT_DB_COLS, tuple(r), strict=True)) for r in c.execute(sql + " ORDER BY seq", params)]
        if rows:
            derive(c.cursor(), rows)

    def events_for_user(self, user_id: str, *, limit: int = 500) -> pd.DataFrame:
        """The user's most recent events (oldest first), as a canonical frame."""
        rows = (
            self._conn()
            .execute(
                f"SELECT {','.join(EVENT_DB_COLS)} FROM events WHERE user_id=? ORDER BY ts DESC LIMIT ?",
                (user_id, limit),
            )
            .fetchall()
        )
        return events_frame([tuple(r) for r in reversed(rows)])

    def lifecycle_rows(
        self, user_ids: Sequence[str], *, before: float | None = None
    ) -> list[tuple[str, float, str, str | None, float | None, int]]:
        """Every event of ``user_ids`` (those before unix time ``before`` if given) as plain
        ``(user_id, ts, event_type, item_id, value, ts_offset_min)`` rows, sorted by user and time:
        what lifecycle features and tiers read, without the cost of a DataFrame."""
        if not user_ids:
            return []
        sql = (
            "SELECT user_id, ts, event_type, item_id, value, ts_offset_min FROM events "
            f"WHERE user_id IN ({','.join('?' * len(user_ids))})"
        )
        params: list[Any] = list(user_ids)
        if before is not None:
            sql += " AND ts < ?"
            params.append(before)
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: sqlite3.Row costs more to build and to unpack
        return cur.execute(sql + " ORDER BY user_id, ts", params).fetchall()

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[tuple[str | None, str, float, str | None]]:
        """The user's recent ``(item_id, event_type, unix ts, channel)``, oldest first: the per-request
        fast path (plain tuples; a DataFrame costs milliseconds to build)."""
        rows = (
            self._conn()
            .execute(
                "SELECT item_id, event_type, ts, channel FROM events WHERE user_id=? ORDER BY ts DESC LIMIT ?",
                (user_id, limit),
            )
            .fetchall()
        )
        return [(r[0], r[1], float(r[2]), r[3]) for r in reversed(rows)]

    def feedback_rows(self, user_id: str, *, limit: int = 100) -> list[tuple[float, str | None, str | None]]:
        """The user's most recent ``feedback`` events as ``(unix ts, item_id, payload)``, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT ts, item_id, payload FROM events WHERE user_id=? AND event_type='feedback' "
                "ORDER BY ts DESC LIMIT ?",
                (user_id, limit),
            )
            .fetchall()
        )
        return [(float(r[0]), r[1], r[2]) for r in reversed(rows)]

    def latest_rows_of(
        self, user_ids: Sequence[str], *, history_limit: int = 500, feedback_limit: int = 100
    ) -> tuple[dict[str, list[HistoryRow]], dict[str, list[FeedbackRow]]]:
        """:meth:`history_rows` and :meth:`feedback_rows` of each of ``user_ids``, in two statements per
        500 users. A forward scan of the ``(user_id, ts)`` index gives each user's events oldest first,
        those of one time in ``seq`` order: the per-user reads' backward scan, reversed. (No window
        function: SQLite sorts for one, which costs more than the few extra rows of the longest
        histories.)"""
        ids = list(dict.fromkeys(user_ids))
        history: dict[str, list[HistoryRow]] = {u: [] for u in ids}
        feedback: dict[str, list[FeedbackRow]] = {u: [] for u in ids}
        for start in range(0, len(ids), 500):  # SQLite allows at most 999 parameters per statement
            chunk = ids[start : start + 500]
            where = f"WHERE user_id IN ({','.join('?' * len(chunk))})"
            conn = self._conn()
            sql = f"SELECT user_id, item_id, event_type, ts, channel FROM events {where} ORDER BY user_id, ts, seq"
            for r in conn.execute(sql, chunk):
                history[r[0]].append((r[1], r[2], float(r[3]), r[4]))
            sql = f"SELECT user_id, ts, item_id, payload FROM events {where} AND event_type='feedback' "
            sql += "ORDER BY user_id, ts, seq"
            for r in conn.execute(sql, chunk):
                feedback[r[0]].append((float(r[1]), r[2], r[3]))
        for h in history.values():
            del h[: max(0, len(h) - history_limit)]  # the latest ``history_limit``
        for f in feedback.values():
            del f[: max(0, len(f) - feedback_limit)]
        return history, feedback

    def history_signature(self, user_id: str) -> tuple[int, float]:
        """(number of events, last event time) of one user: changes whenever an event is added, and
        costs one read of the (user_id, ts) index instead of the rows."""
        row = self._conn().execute("SELECT COUNT(*), MAX(ts) FROM events WHERE user_id=?", (user_id,)).fetchone()
        return (int(row[0]), float(row[1])) if row and row[0] else (0, 0.0)

    def user_and_signature(self, user_id: str) -> tuple[dict[str, Any] | None, tuple[int, float]]:
        """:meth:`get_user` and :meth:`history_signature` (both local reads of one file here)."""
        return self.get_user(user_id), self.history_signature(user_id)

    def users_and_signatures(
        self, user_ids: Sequence[str]
    ) -> dict[str, tuple[dict[str, Any] | None, tuple[int, float]]]:
        """:meth:`user_and_signature` of each of ``user_ids``, in two statements per 500 users (a batch
        chunk reads its users once instead of twice per user)."""
        ids = list(dict.fromkeys(user_ids))
        users: dict[str, dict[str, Any]] = {}
        sigs: dict[str, tuple[int, float]] = {}
        cols = ",".join(USER_DB_COLS)
        for start in range(0, len(ids), 500):  # SQLite allows at most 999 parameters per statement
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            conn = self._conn()
            users.update(
                (str(r["user_id"]), dict(r))
                for r in conn.execute(f"SELECT {cols} FROM users WHERE user_id IN ({marks})", chunk)
            )
            sql = f"SELECT user_id, COUNT(*), MAX(ts) FROM events WHERE user_id IN ({marks}) GROUP BY user_id"
            sigs.update((str(r[0]), (int(r[1]), float(r[2]))) for r in conn.execute(sql, chunk) if r[1])
        return {u: (users.get(u), sigs.get(u, (0, 0.0))) for u in ids}

    def history_signatures(self) -> dict[str, tuple[int, float]]:
        """:meth:`history_signature` of every user with events, in one query."""
        rows = self._conn().execute("SELECT user_id, COUNT(*), MAX(ts) FROM events GROUP BY user_id").fetchall()
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}

    def max_event_seq(self) -> int:
        return self._max_seq(self._conn())

    def most_active_users(self, *, event_type: str | None = None, limit: int = 1, offset: int = 0) -> list[str]:
        """Users ranked by their number of events (only of ``event_type`` if given), most first;
        ``offset`` skips the top ones. Ties come in no particular order."""
        where, params = ("WHERE event_type=? ", [event_type]) if event_type is not None else ("", [])
        rows = self._conn().execute(
            f"SELECT user_id FROM events {where}GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [str(r[0]) for r in rows]

    def count_events(self, event_type: str) -> int:
        """How many stored events have ``event_type``."""
        return int(self._conn().execute("SELECT COUNT(*) FROM events WHERE event_type=?", (event_type,)).fetchone()[0])

    # ---- items --------------------------------------------------------------------------
    def upsert_items(self, df: pd.DataFrame) -> int:
        """Insert or replace canonical items; extra columns go to ``attributes`` (e.g. title_zh)."""
        return self.upsert_items_stamped(df)[0]

    def upsert_items_stamped(self, df: pd.DataFrame) -> tuple[int, float]:
        """:meth:`upsert_items`, also returning the ``updated_at`` stamp the rows got.

        Stamps grow in commit order: the write lock is held from reading the largest stamp to the
        commit. So a process that remembers the largest stamp it has seen never misses a later write
        (:meth:`items_changed_since`), whichever process made it.
        """
        recs = with_attributes(df, ITEM_COLUMNS)
        with self.tx() as c:
            top = float(c.execute("SELECT COALESCE(MAX(updated_at), 0) FROM items").fetchone()[0])
            stamp = max(datetime.now(UTC).timestamp(), top + 1e-3)
            recs = with_restocks(recs, self._stock_of(c, [str(r[0]) for r in recs]), stamp)
            c.executemany(_upsert_sql("items", ITEM_DB_COLS), [(*r, stamp) for r in recs])
        return len(recs), stamp

    @staticmethod
    def _stock_of(c: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[bool, Any]]:
        rows: list[tuple[Any, Any, Any]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = f"SELECT item_id, in_stock, attributes FROM items WHERE item_id IN ({','.join('?' * len(chunk))})"
            rows.extend(c.execute(sql, chunk))
        return stock_before(rows)

    def items_watermark(self) -> float:
        """The largest ``updated_at`` of any item (0 for an empty catalog); one index lookup."""
        return float(self._conn().execute("SELECT COALESCE(MAX(updated_at), 0) FROM items").fetchone()[0])

    def items_changed_since(self, stamp: float) -> pd.DataFrame:
        """Items upserted after ``stamp`` (any process), with their ``updated_at``, oldest first."""
        rows = (
            self._conn()
            .execute(f"SELECT {','.join(ITEM_DB_COLS)} FROM items WHERE updated_at > ? ORDER BY updated_at", (stamp,))
            .fetchall()
        )
        return items_frame(rows)

    def items_frame(self) -> pd.DataFrame:
        rows = self._conn().execute(f"SELECT {','.join(ITEM_DB_COLS)} FROM items ORDER BY item_id").fetchall()
        return items_frame(rows)

    def most_evented_items(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` items with the most events, most first, as dicts of their id, title, price,
        currency, media URLs and attributes (translations among them) plus ``n``, their number of
        events. Items without events are left out; ties come in no particular order."""
        rows = self._conn().execute(
            "SELECT i.item_id, i.title, i.price, i.currency, i.image_url, i.video_url, i.audio_url, i.attributes, "
            "COUNT(*) n "
            "FROM events e JOIN items i ON i.item_id = e.item_id GROUP BY i.item_id ORDER BY n DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def some_item_id(self) -> str | None:
        """Any one item id (the first by id), or None for an empty catalog."""
        row = self._conn().execute("SELECT item_id FROM items ORDER BY item_id LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(f"SELECT {','.join(ITEM_DB_COLS)} FROM items WHERE item_id=?", (item_id,)).fetchone()
        return dict(row) if row else None

    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of the known ids among ``item_ids``, by id (unknown ids are left out)."""
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, dict[str, Any]] = {}
        cols = ",".join(ITEM_DB_COLS)
        for start in range(0, len(ids), 500):  # SQLite allows at most 999 parameters per statement
            chunk = ids[start : start + 500]
            sql = f"SELECT {cols} FROM items WHERE item_id IN ({','.join('?' * len(chunk))})"
            out.update((str(r["item_id"]), dict(r)) for r in self._conn().execute(sql, chunk))
        return out

    # ---- users --------------------------------------------------------------------------
    def upsert_users(self, df: pd.DataFrame) -> int:
        rows = with_attributes(df, USER_COLUMNS)
        with self.tx() as c:
            c.executemany(
                _upsert_sql("users", USER_DB_COLS),
                rows,
            )
        return len(rows)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(f"SELECT {','.join(USER_DB_COLS)} FROM users WHERE user_id=?", (user_id,)).fetchone()
        return dict(row) if row else None

    # ---- misc ---------------------------------------------------------------------------
    def count(self, table: str) -> int:
        if table not in ("users", "items", "events"):
            raise ValueError(table)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
