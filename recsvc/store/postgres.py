"""The shared store: PostgreSQL, for several server hosts behind a load balancer.

Same interface as :class:`~recsvc.store.sqlite.SQLiteStore` (:class:`~recsvc.store.EventStore`).
Connections come from a psycopg_pool ``ConnectionPool`` in autocommit mode; writes run in explicit
transactions. Events are idempotent by event id (``ON CONFLICT DO NOTHING``). Item upserts take a
catalog-wide advisory lock and stamp ``updated_at`` from the ``items_stamp`` sequence while holding
it, so stamps grow in commit order and a process that remembers the largest stamp it has indexed
never misses another host's later upsert. The password comes from the environment only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from recsvc.data.io import ITEM_COLUMNS, USER_COLUMNS
from recsvc.errors import InvalidArgument, Unavailable
from recsvc.store.config import PostgresConfig, password_from_env
from recsvc.store.migrations import migrate
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

logger = logging.getLogger(__name__)

_CATALOG_LOCK = (7_310_015, 1)  # two-key advisory lock: per-user caps locks use another first key
# What SQLite's INSERT OR REPLACE puts into a NOT NULL column given None: the column's default.
_USER_DEFAULTS: dict[str, Any] = {
    **{c: "" for c in ("timezone", "locale", "city", "country", "quiet_hours", "first_name")},
    **{c: 1 for c in ("push_opt_in", "sms_opt_in", "email_opt_in")},
    "attributes": "{}",
}
_ITEM_DEFAULTS: dict[str, Any] = {
    **{c: "" for c in ("description", "category", "currency", "image_url", "video_url", "audio_url")},
    **{c: "" for c in ("cities", "tags")},
    "in_stock": 1,
    "attributes": "{}",
}
_EVENT_INSERT = (
    f"INSERT INTO events ({','.join(EVENT_DB_COLS)}) VALUES ({','.join(['%s'] * len(EVENT_DB_COLS))}) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING seq"
)


def _pg_value(v: Any, col: str, defaults: dict[str, Any]) -> Any:
    if v is None:
        return defaults.get(col)
    return int(v) if isinstance(v, bool) else v


def _holds_nul(params: Sequence[Any]) -> bool:
    """PostgreSQL text cannot hold NUL, so a lookup by such a key matches nothing (SQLite's answer)."""
    return any(isinstance(p, str) and "\x00" in p for p in params)


def user_and_signature_sql(also: str = "") -> str:
    """The user's row and history signature (``_n``, ``_t``) as one row, with the columns of the
    ``also`` subquery (it may read further ``%s`` parameters after the two user ids)."""
    cols = ",".join(f"u.{c} AS {c}" for c in USER_DB_COLS)
    extra = f", a.* FROM ({also}) a CROSS JOIN" if also else " FROM"
    return (
        f"SELECT {cols}, s.n AS _n, s.t AS _t{extra} (SELECT COUNT(*) AS n, MAX(ts) AS t FROM events"
        " WHERE user_id=%s) s LEFT JOIN users u ON u.user_id=%s"
    )


def split_user_and_signature(row: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[int, float]]:
    """The user (None when unknown) and the signature from a row of :func:`user_and_signature_sql`
    (its ``also`` columns removed first)."""
    user = {c: row[c] for c in USER_DB_COLS}
    n, t = row["_n"], row["_t"]
    return (user if user["user_id"] is not None else None), ((int(n), float(t)) if n else (0, 0.0))


def _upsert_sql(table: str, cols: Sequence[str], key: str) -> str:
    sets = ",".join(f"{c}=EXCLUDED.{c}" for c in cols if c != key)
    marks = ",".join(["%s"] * len(cols))
    return f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {sets}"


def describe(url: str) -> str:
    """``host:port/dbname`` of a URL, for messages (never the password)."""
    d = conninfo_to_dict(url)
    return f"{d.get('host', 'localhost')}:{d.get('port', 5432)}/{d.get('dbname', '')}"


def connect_kwargs(url: str, config: PostgresConfig) -> tuple[str, dict[str, Any]]:
    """The conninfo (password from the environment) and connection options for ``url``."""
    parts = conninfo_to_dict(url)
    if parts.get("password"):
        raise InvalidArgument(
            "paths.store: a PostgreSQL password must not be written in the URL; "
            "set RECSVC_POSTGRES_PASSWORD (or PGPASSWORD) instead",
            field="paths.store",
        )
    password = password_from_env()
    if password:
        parts["password"] = password
    parts.setdefault("connect_timeout", max(1, round(config.connect_timeout_s)))
    parts.setdefault("application_name", "recsvc")
    options = f"-c statement_timeout={int(config.statement_timeout_ms)}"
    return make_conninfo("", **parts), {"autocommit": True, "options": options}


class PostgresStore:
    """Users, items and events in PostgreSQL, through a connection pool shared with the caps ledger."""

    def __init__(self, url: str, config: PostgresConfig | None = None) -> None:
        self.config = config or PostgresConfig()
        self.location = describe(url)
        conninfo, kwargs = connect_kwargs(url, self.config)
        self.pool = ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=self.config.pool_min,
            max_size=self.config.pool_max,
            timeout=self.config.pool_timeout_s,
            open=False,
            name="recsvc",
        )
        try:
            self.pool.open(wait=True, timeout=self.config.connect_timeout_s)
        except PoolTimeout:
            self.pool.close()
            raise Unavailable(
                f"paths.store: cannot connect to PostgreSQL at {self.location} within "
                f"postgres.connect_timeout_s={self.config.connect_timeout_s:g}s",
                field="paths.store",
            ) from None
        with self.connection() as conn:
            applied = migrate(conn, self.location)
        if applied:
            logger.info("PostgreSQL %s: schema migrated to version %d", self.location, applied[-1])

    def close(self) -> None:
        self.pool.close()

    def ping(self) -> None:
        """One trivial query, waiting at most 2 s for a connection (health probes must not hang)."""
        try:
            with self.pool.connection(timeout=min(2.0, self.config.pool_timeout_s)) as conn:
                conn.execute("SELECT 1")
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise Unavailable(f"PostgreSQL at {self.location} unavailable: {str(exc).strip()}") from None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection; a lost server is ``Unavailable``, not an internal error."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:  # statement timeouts included
            raise Unavailable(f"PostgreSQL at {self.location} unavailable: {str(exc).strip()}") from None
        except psycopg.DataError as exc:  # a value PostgreSQL cannot store, e.g. text with NUL
            raise InvalidArgument(f"a value cannot be stored in PostgreSQL: {str(exc).strip()}") from None

    @contextmanager
    def tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in one transaction: committed on exit, rolled back on error."""
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if _holds_nul(params):
            return []
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if _holds_nul(params):
            return []
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        rows = self._all(sql, params)
        return rows[0]

    # ---- events -------------------------------------------------------------------------
    def add_events(
        self, rows: Sequence[dict[str, Any]], *, derive: Derive | None = None
    ) -> tuple[IngestResult, list[bool]]:
        """Insert events idempotently; returns counts and, per row, whether it was new.

        ``derive(cursor, new_rows)`` runs inside the same transaction (a psycopg cursor).
        """
        if not rows:
            return IngestResult(0, 0), []
        values = [event_row_values(r) for r in rows]
        new_flags: list[bool] = []
        with self.tx() as cur:
            cur.executemany(_EVENT_INSERT, values, returning=True)
            while True:
                new_flags.append(cur.fetchone() is not None)
                if not cur.nextset():
                    break
            new_rows = [
                dict(zip(EVENT_DB_COLS, v, strict=True)) for v, new in zip(values, new_flags, strict=True) if new
            ]
            if derive is not None and new_rows:
                derive(cur, new_rows)
        acc = sum(new_flags)
        return IngestResult(acc, len(rows) - acc), new_flags

    def import_events(self, df: pd.DataFrame, *, chunk: int = 50_000, derive: Derive | None = None) -> IngestResult:
        """Bulk-load a canonical events frame with COPY; ``derive`` as in :meth:`add_events`."""
        rows = event_import_rows(df)
        cols = ",".join(EVENT_DB_COLS)
        accepted = 0
        for start in range(0, len(rows), chunk):
            with self.tx() as cur:
                cur.execute(f"CREATE TEMP TABLE events_in ON COMMIT DROP AS SELECT {cols} FROM events WITH NO DATA")
                with cur.copy(f"COPY events_in ({cols}) FROM STDIN") as copy:
                    for row in rows[start : start + chunk]:
                        copy.write_row(row)
                cur.execute(
                    f"INSERT INTO events ({cols}) SELECT {cols} FROM events_in "
                    f"ON CONFLICT (event_id) DO NOTHING RETURNING {cols}"
                )
                new = cur.fetchall()
                accepted += len(new)
                if derive is not None and new:
                    derive(cur, [dict(zip(EVENT_DB_COLS, r, strict=True)) for r in new])
        return IngestResult(accepted, len(df) - accepted)

    def replay_events(self, derive: Derive, *, after_seq: int, event_types: Sequence[str], chunk: int = 100_000) -> int:
        """Run ``derive`` again over stored events of ``event_types`` with ``seq > after_seq``."""
        top = self.max_event_seq()
        lo = after_seq
        while lo < top:
            hi = min(top, lo + chunk)
            with self.tx() as cur:
                cur.execute(
                    f"SELECT {','.join(EVENT_DB_COLS)} FROM events WHERE seq > %s AND seq <= %s "
                    "AND (cardinality(%s::text[]) = 0 OR event_type = ANY(%s)) ORDER BY seq",
                    (lo, hi, list(event_types), list(event_types)),
                )
                rows = [dict(zip(EVENT_DB_COLS, r, strict=True)) for r in cur.fetchall()]
                if rows:
                    derive(cur, rows)
            lo = hi
        return max(top, after_seq)

    def events_for_user(self, user_id: str, *, limit: int = 500) -> pd.DataFrame:
        rows = self._all(
            f"SELECT {','.join(EVENT_DB_COLS)} FROM events WHERE user_id=%s ORDER BY ts DESC LIMIT %s", (user_id, limit)
        )
        return events_frame(list(reversed(rows)))

    def lifecycle_rows(
        self, user_ids: Sequence[str], *, before: float | None = None
    ) -> list[tuple[str, float, str, str | None, float | None, int]]:
        ids = [u for u in user_ids if "\x00" not in u]
        if not ids:
            return []
        sql = "SELECT user_id, ts, event_type, item_id, value, ts_offset_min FROM events WHERE user_id = ANY(%s)"
        params: list[Any] = [ids]
        if before is not None:
            sql += " AND ts < %s"
            params.append(before)
        return self._all(sql + " ORDER BY user_id, ts", params)  # type: ignore[return-value]

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[tuple[str | None, str, float, str | None]]:
        rows = self._all(
            "SELECT item_id, event_type, ts, channel FROM events WHERE user_id=%s ORDER BY ts DESC LIMIT %s",
            (user_id, limit),
        )
        return [(r[0], r[1], float(r[2]), r[3]) for r in reversed(rows)]

    def feedback_rows(self, user_id: str, *, limit: int = 100) -> list[tuple[float, str | None, str | None]]:
        rows = self._all(
            "SELECT ts, item_id, payload FROM events WHERE user_id=%s AND event_type='feedback' "
            "ORDER BY ts DESC LIMIT %s",
            (user_id, limit),
        )
        return [(float(r[0]), r[1], r[2]) for r in reversed(rows)]

    def latest_rows_of(
        self, user_ids: Sequence[str], *, history_limit: int = 500, feedback_limit: int = 100
    ) -> tuple[dict[str, list[HistoryRow]], dict[str, list[FeedbackRow]]]:
        """:meth:`history_rows` and :meth:`feedback_rows` of each of ``user_ids``: two statements for
        them all, each running the per-user read for every id (so the rows come in its order)."""
        ids = list(dict.fromkeys(user_ids))
        keys = [u for u in ids if "\x00" not in u]  # a NUL byte: no row can match
        history: dict[str, list[HistoryRow]] = {u: [] for u in ids}
        feedback: dict[str, list[FeedbackRow]] = {u: [] for u in ids}
        # No outer ORDER BY: each user's rows come as the per-user read returns them (newest first).
        sql = (
            "SELECT u.uid, h.item_id, h.event_type, h.ts, h.channel FROM unnest(%s::text[]) AS u(uid) "
            "CROSS JOIN LATERAL (SELECT item_id, event_type, ts, channel FROM events WHERE user_id=u.uid "
            "ORDER BY ts DESC LIMIT %s) h"
        )
        for r in self._all(sql, (keys, history_limit)):
            history[r[0]].append((r[1], r[2], float(r[3]), r[4]))
        sql = (
            "SELECT u.uid, h.ts, h.item_id, h.payload FROM unnest(%s::text[]) AS u(uid) "
            "CROSS JOIN LATERAL (SELECT ts, item_id, payload FROM events WHERE user_id=u.uid "
            "AND event_type='feedback' ORDER BY ts DESC LIMIT %s) h"
        )
        for r in self._all(sql, (keys, feedback_limit)):
            feedback[r[0]].append((float(r[1]), r[2], r[3]))
        for h in history.values():
            h.reverse()  # oldest first
        for f in feedback.values():
            f.reverse()
        return history, feedback

    def history_signature(self, user_id: str) -> tuple[int, float]:
        row = self._one("SELECT COUNT(*), MAX(ts) FROM events WHERE user_id=%s", (user_id,))
        return (int(row[0]), float(row[1])) if row[0] else (0, 0.0)

    def user_and_signature(self, user_id: str) -> tuple[dict[str, Any] | None, tuple[int, float]]:
        """:meth:`get_user` and :meth:`history_signature` in one statement: one round trip per request
        instead of two."""
        rows = self._dicts(user_and_signature_sql(), (user_id, user_id))
        if not rows:  # a NUL byte in the id: no such user
            return None, (0, 0.0)
        return split_user_and_signature(rows[0])

    def users_and_signatures(
        self, user_ids: Sequence[str]
    ) -> dict[str, tuple[dict[str, Any] | None, tuple[int, float]]]:
        """:meth:`user_and_signature` of each of ``user_ids``: two statements for them all."""
        ids = list(dict.fromkeys(user_ids))
        keys = [u for u in ids if "\x00" not in u]  # a NUL byte: no row can match
        users = {
            str(r["user_id"]): r
            for r in self._dicts(f"SELECT {','.join(USER_DB_COLS)} FROM users WHERE user_id = ANY(%s)", (keys,))
        }
        sql = "SELECT user_id, COUNT(*) AS n, MAX(ts) AS t FROM events WHERE user_id = ANY(%s) GROUP BY user_id"
        sigs = {str(r["user_id"]): (int(r["n"]), float(r["t"])) for r in self._dicts(sql, (keys,)) if r["n"]}
        return {u: (users.get(u), sigs.get(u, (0, 0.0))) for u in ids}

    def history_signatures(self) -> dict[str, tuple[int, float]]:
        rows = self._all("SELECT user_id, COUNT(*), MAX(ts) FROM events GROUP BY user_id")
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}

    def max_event_seq(self) -> int:
        return int(self._one("SELECT COALESCE(MAX(seq), 0) FROM events")[0])

    def most_active_users(self, *, event_type: str | None = None, limit: int = 1, offset: int = 0) -> list[str]:
        where, params = ("WHERE event_type=%s ", [event_type]) if event_type is not None else ("", [])
        rows = self._all(
            f"SELECT user_id FROM events {where}GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        return [str(r[0]) for r in rows]

    def count_events(self, event_type: str) -> int:
        return int(self._one("SELECT COUNT(*) FROM events WHERE event_type=%s", (event_type,))[0])

    # ---- items --------------------------------------------------------------------------
    def upsert_items(self, df: pd.DataFrame) -> int:
        return self.upsert_items_stamped(df)[0]

    def upsert_items_stamped(self, df: pd.DataFrame) -> tuple[int, float]:
        """Upsert items; every row gets one new ``items_stamp`` value, taken under the catalog lock."""
        cols = (*ITEM_COLUMNS, "attributes")
        given = with_attributes(df, ITEM_COLUMNS)
        with self.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", _CATALOG_LOCK)
            cur.execute("SELECT nextval('items_stamp')")
            stamp = float(cur.fetchone()[0])  # type: ignore[index]
            cur.execute(
                "SELECT item_id, in_stock, attributes FROM items WHERE item_id = ANY(%s)", ([str(r[0]) for r in given],)
            )
            # The stamp orders writes; when an item came back in stock is a time.
            given = with_restocks(given, stock_before(cur.fetchall()), datetime.now(UTC).timestamp())
            recs = [[_pg_value(v, c, _ITEM_DEFAULTS) for v, c in zip(r, cols, strict=True)] for r in given]
            cur.executemany(_upsert_sql("items", ITEM_DB_COLS, "item_id"), [(*r, stamp) for r in recs])
        return len(recs), stamp

    def items_watermark(self) -> float:
        return float(self._one("SELECT COALESCE(MAX(updated_at), 0) FROM items")[0])

    def items_changed_since(self, stamp: float) -> pd.DataFrame:
        rows = self._all(
            f"SELECT {','.join(ITEM_DB_COLS)} FROM items WHERE updated_at > %s ORDER BY updated_at", (stamp,)
        )
        return items_frame(rows)

    def items_frame(self) -> pd.DataFrame:
        return items_frame(self._all(f"SELECT {','.join(ITEM_DB_COLS)} FROM items ORDER BY item_id"))

    def most_evented_items(self, limit: int) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT i.item_id, i.title, i.price, i.currency, i.image_url, i.video_url, i.audio_url, i.attributes, "
            "COUNT(*) n FROM events e JOIN items i ON i.item_id = e.item_id GROUP BY i.item_id "
            "ORDER BY n DESC LIMIT %s",
            (limit,),
        )

    def some_item_id(self) -> str | None:
        rows = self._all("SELECT item_id FROM items ORDER BY item_id LIMIT 1")
        return str(rows[0][0]) if rows else None

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        rows = self._dicts(f"SELECT {','.join(ITEM_DB_COLS)} FROM items WHERE item_id=%s", (item_id,))
        return rows[0] if rows else None

    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = [i for i in dict.fromkeys(item_ids) if "\x00" not in i]
        if not ids:
            return {}
        rows = self._dicts(f"SELECT {','.join(ITEM_DB_COLS)} FROM items WHERE item_id = ANY(%s)", (ids,))
        return {str(r["item_id"]): r for r in rows}

    # ---- users --------------------------------------------------------------------------
    def upsert_users(self, df: pd.DataFrame) -> int:
        rows = [
            [_pg_value(v, c, _USER_DEFAULTS) for v, c in zip(r, USER_DB_COLS, strict=True)]
            for r in with_attributes(df, USER_COLUMNS)
        ]
        with self.tx() as cur:
            cur.executemany(_upsert_sql("users", USER_DB_COLS, "user_id"), rows)
        return len(rows)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        rows = self._dicts(f"SELECT {','.join(USER_DB_COLS)} FROM users WHERE user_id=%s", (user_id,))
        return rows[0] if rows else None

    # ---- misc ---------------------------------------------------------------------------
    def count(self, table: str) -> int:
        if table not in ("users", "items", "events"):
            raise ValueError(table)
        return int(self._one(f"SELECT COUNT(*) FROM {table}")[0])
