"""Frequency caps on PostgreSQL: exact across every host that shares the database.

Same interface and rules as :class:`~recsvc.frequency.caps.CapLedger` (rolling 24 h / 7 day
windows on both sides of the request's time, feedback penalties, key moments, opt-outs), on the
tables of the store's schema (:mod:`recsvc.store.migrations`) and through the store's pool.

A reservation is one conditional ``INSERT ... SELECT ... WHERE <every window count> < cap``,
evaluated after taking a per-user transaction advisory lock: the lock is taken by its own statement
first, so the insert's snapshot already contains every send another host committed for that user.
Nothing is read and then written: the decision and the write are the same statement. A refused
reservation's reason is then worked out by the shared verdict code, under the same lock.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row

from recsvc.errors import InvalidArgument
from recsvc.frequency.caps import (
    ALL_CHANNELS,
    BookingHook,
    CapLedger,
    CapState,
    Refusal,
    Reservation,
    _channel,
    _event_channel,
    _secs,
    _tier,
    feedback_rows,
)
from recsvc.frequency.config import FrequencyConfig
from recsvc.frequency.windows import DAY, WEEK
from recsvc.store.cursor import QmarkCursor as _Qmark
from recsvc.store.postgres import PostgresStore, split_user_and_signature, user_and_signature_sql
from recsvc.store.protocol import EventStore
from recsvc.vocabulary import EngagementTier

_USER_LOCK = 7_310_016  # first key of per-user advisory locks (second: hashtext(user_id))
_DERIVED_THROUGH = "events_derived_through"


def _max_window_sql(window: str) -> str:
    """1 + the most booked sends in any window ``(t - window, t]`` containing the new send at ``now``
    (as :func:`recsvc.frequency.windows.max_window_count`): windows ending at ``now`` or at a booked
    send in ``[now, now + window)``."""
    return (
        f"1 + (SELECT MAX((SELECT COUNT(*) FROM booked b WHERE b.ts > e.t - {window} AND b.ts <= e.t)) "
        f"FROM (SELECT %(now)s::float8 AS t UNION ALL "
        f"SELECT ts FROM booked WHERE ts >= %(now)s AND ts < %(now)s + {window}) e)"
    )


_RESERVE = f"""
WITH penalty AS (
  SELECT COALESCE(SUM(CASE kind WHEN 'dismissal' THEN %(dismissal)s WHEN 'negative' THEN %(negative)s
                           ELSE 0 END), 0)::float8 AS p
  FROM feedback WHERE user_id = %(uid)s AND ts >= %(since)s AND ts <= %(now)s
), base AS (
  SELECT CASE WHEN EXISTS (SELECT 1 FROM feedback WHERE user_id = %(uid)s AND kind = 'too_many'
                           AND ts >= %(too_many_since)s AND ts <= %(now)s)
              THEN FLOOR(%(weekly_cap)s * %(too_many_factor)s + 1e-9) ELSE %(weekly_cap)s END AS cap
), weekly AS (
  SELECT GREATEST(GREATEST(0, base.cap - CEIL(p - 1e-9)), %(floor)s) AS cap FROM penalty, base
), caps AS (
  SELECT cap AS weekly, LEAST(%(daily_cap)s, cap) AS daily FROM weekly
), booked AS (
  SELECT ts FROM sends WHERE user_id = %(uid)s AND ts > %(now)s - {WEEK} AND ts < %(now)s + {WEEK}
)
INSERT INTO sends(user_id, channel, tier, ts, dedupe_key, key_moment)
SELECT %(uid)s, %(ch)s, %(tier)s, %(now)s, %(key)s, %(key_moment)s FROM caps
WHERE NOT %(suppressed)s
  AND NOT EXISTS (SELECT 1 FROM unsubscribes WHERE user_id = %(uid)s AND channel IN (%(ch)s, '{ALL_CHANNELS}'))
  AND caps.weekly > 0 AND caps.daily > 0
  AND {_max_window_sql(str(WEEK))} <= caps.weekly
  AND {_max_window_sql(str(DAY))} <= caps.daily
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""

# The reads of CapLedger._state: the user's opt-outs, feedback penalties and "too many" in their
# windows, and the booked send times that can share a week with now.
_STATE = """
SELECT
  ARRAY(SELECT channel FROM unsubscribes WHERE user_id = %s) AS _opted_out,
  f.dismissals AS _dismissals, f.negatives AS _negatives,
  EXISTS (SELECT 1 FROM feedback WHERE user_id = %s AND kind = 'too_many' AND ts >= %s AND ts <= %s) AS _too_many,
  ARRAY(SELECT ts FROM sends WHERE user_id = %s AND ts > %s ORDER BY ts) AS _sends
FROM (
  SELECT COUNT(*) FILTER (WHERE kind = 'dismissal') AS dismissals,
         COUNT(*) FILTER (WHERE kind = 'negative') AS negatives
  FROM feedback WHERE user_id = %s AND ts >= %s AND ts <= %s
) f
"""
# The same reads for many users at once: one row per user id of the array.
_STATES = """
SELECT u.uid AS _uid,
  ARRAY(SELECT channel FROM unsubscribes WHERE user_id = u.uid) AS _opted_out,
  (SELECT COUNT(*) FROM feedback WHERE user_id = u.uid AND kind = 'dismissal' AND ts >= %(since)s AND ts <= %(now)s)
    AS _dismissals,
  (SELECT COUNT(*) FROM feedback WHERE user_id = u.uid AND kind = 'negative' AND ts >= %(since)s AND ts <= %(now)s)
    AS _negatives,
  EXISTS (SELECT 1 FROM feedback WHERE user_id = u.uid AND kind = 'too_many' AND ts >= %(too_many_since)s
          AND ts <= %(now)s) AS _too_many,
  ARRAY(SELECT ts FROM sends WHERE user_id = u.uid AND ts > %(week_ago)s ORDER BY ts) AS _sends
FROM unnest(%(uids)s::text[]) AS u(uid)
"""
_STATE_COLUMNS = ("_opted_out", "_dismissals", "_negatives", "_too_many", "_sends")
_USER_AND_STATE = user_and_signature_sql(also=_STATE)

_UPSERT_LATEST = (
    "INSERT INTO {table}(user_id, channel, ts) VALUES (%s,%s,%s) "
    "ON CONFLICT (user_id, channel) DO UPDATE SET ts = GREATEST({table}.ts, EXCLUDED.ts)"
)


class PgCapLedger(CapLedger):
    """Planned sends, feedback and unsubscribes in PostgreSQL, shared by every host."""

    def __init__(self, store: PostgresStore, config: FrequencyConfig | None = None) -> None:
        # The SQLite connection and lock of the base class are not used: each call takes a pooled connection.
        self.config = (config or FrequencyConfig()).validate()
        self._store = store

    def close(self) -> None:
        """The pool belongs to the store, which closes it."""

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._store.tx() as cur:
            yield _Qmark(cur)

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._store.connection() as conn, conn.cursor() as cur:
            yield _Qmark(cur)

    def reserve(
        self,
        user_id: str,
        channel: str,
        tier: EngagementTier | int,
        now_utc: datetime,
        *,
        dedupe_key: str,
        key_moment: bool = False,
        on_booked: BookingHook | None = None,
    ) -> Reservation | Refusal:
        """Atomically check the caps and record a planned send; the same ``dedupe_key`` is idempotent.
        ``on_booked`` runs in the booking's transaction for a new reservation (not for a duplicate)."""
        if not dedupe_key:
            raise InvalidArgument("dedupe_key must be non-empty", field="dedupe_key")
        ch = _channel(channel)
        t = _tier(tier)
        now = _secs(now_utc, "now_utc")
        uid = str(user_id)
        with self._store.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_USER_LOCK, uid))
            cur.execute(_RESERVE, self._reserve_params(uid, ch, t, now, dedupe_key, key_moment))
            row = cur.fetchone()
            if row is not None:
                booked = Reservation(int(row[0]), uid, ch, t, now_utc.astimezone(UTC), dedupe_key, key_moment)
                if on_booked is not None:
                    on_booked(cur, booked)
                return booked
            cur.execute(
                "SELECT id, user_id, channel, tier, ts, key_moment FROM sends WHERE dedupe_key=%s", (dedupe_key,)
            )
            dup = cur.fetchone()
            if dup is not None:
                return Reservation(
                    int(dup[0]),
                    str(dup[1]),
                    str(dup[2]),
                    EngagementTier(int(dup[3])),
                    datetime.fromtimestamp(dup[4], UTC),
                    dedupe_key,
                    bool(dup[5]),
                    duplicate=True,
                )
            refusal = self._verdict(_Qmark(cur), uid, ch, t, now, key_moment)
        # The statement and the verdict code agree by construction; a send they disagree on is refused.
        return refusal or Refusal("WEEKLY_CAP", "cap reached while checking (concurrent change)")

    def _reserve_params(
        self, uid: str, ch: str, t: EngagementTier, now: float, key: str, key_moment: bool
    ) -> dict[str, Any]:
        cfg = self.config
        weekly_cap = cfg.weekly_cap(t)
        return {
            "uid": uid,
            "ch": ch,
            "tier": int(t),
            "now": now,
            "key": key,
            "key_moment": int(key_moment),
            "since": now - cfg.penalty_days * 86400.0,
            "too_many_since": now - cfg.too_many_days * 86400.0,
            "too_many_factor": float(cfg.too_many_cap_factor),
            "dismissal": float(cfg.dismissal_penalty),
            "negative": float(cfg.negative_feedback_penalty),
            "weekly_cap": weekly_cap,
            "daily_cap": cfg.daily_cap(t),
            "floor": min(cfg.key_moment_floor, weekly_cap) if key_moment else 0,
            "suppressed": t is EngagementTier.DORMANT and cfg.dormant_key_moments_only and not key_moment,
        }

    def _state(self, cur: Any, uid: str, now: float) -> CapState:
        """The base class's reads as one statement: each would otherwise be a round trip to the server."""
        cur.execute(_STATE, self._state_params(uid, now))
        return _cap_state(uid, now, cur.fetchone())

    def user_and_state(
        self, store: EventStore, user_id: str, now_utc: datetime
    ) -> tuple[dict[str, Any] | None, tuple[int, float], CapState]:
        """The user's row, signature and cap state in one statement, so a ``Recommend`` makes one round
        trip to read everything it decides on."""
        now = _secs(now_utc, "now_utc")
        uid = str(user_id)
        if store is not self._store or "\x00" in uid:  # another database, or a key no row can match
            return super().user_and_state(store, user_id, now_utc)
        with self._store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_USER_AND_STATE, (*self._state_params(uid, now), uid, uid))
            row = cur.fetchone()
        assert row is not None  # a row of aggregates: always exactly one
        found, sig = split_user_and_signature(row)
        return found, sig, _cap_state(uid, now, tuple(row[c] for c in _STATE_COLUMNS))

    def cap_states(self, user_ids: Sequence[str], now_utc: datetime) -> dict[str, CapState]:
        """:meth:`cap_state` of each of ``user_ids``: one statement for them all."""
        now = _secs(now_utc, "now_utc")
        ids = [str(u) for u in dict.fromkeys(user_ids)]
        keys = [u for u in ids if "\x00" not in u]  # a NUL byte: no row can match, nothing is stored
        cfg = self.config
        params = {
            "uids": keys,
            "now": now,
            "since": now - cfg.penalty_days * 86400.0,
            "too_many_since": now - cfg.too_many_days * 86400.0,
            "week_ago": now - WEEK,
        }
        with self._store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_STATES, params)
            rows = cur.fetchall()
        found = {str(r["_uid"]): _cap_state(str(r["_uid"]), now, [r[c] for c in _STATE_COLUMNS]) for r in rows}
        empty = _cap_state("", now, [(), 0, 0, False, ()])
        return {u: found.get(u) or dataclasses.replace(empty, user_id=u) for u in ids}

    def _state_params(self, uid: str, now: float) -> tuple[Any, ...]:
        cfg = self.config
        too_many_since = now - cfg.too_many_days * 86400.0
        return (uid, uid, too_many_since, now, uid, now - WEEK, uid, now - cfg.penalty_days * 86400.0, now)

    def unsubscribe(self, user_id: str, channel: str = ALL_CHANNELS, at_utc: datetime | None = None) -> None:
        ch = _channel(channel, allow_all=True)
        ts = _secs(at_utc, "at_utc") if at_utc is not None else time.time()
        with self._store.tx() as cur:
            cur.execute(_UPSERT_LATEST.format(table="unsubscribes"), (str(user_id), ch, ts))

    def resubscribe(self, user_id: str, channel: str = ALL_CHANNELS, at_utc: datetime | None = None) -> None:
        ch = _channel(channel, allow_all=True)
        ts = _secs(at_utc, "at_utc") if at_utc is not None else time.time()
        uid = str(user_id)
        where, args = ("user_id=%s", (uid,)) if ch == ALL_CHANNELS else ("user_id=%s AND channel=%s", (uid, ch))
        with self._store.tx() as cur:
            cur.execute(f"DELETE FROM unsubscribes WHERE {where} RETURNING ts", args)
            cleared = max((float(r[0]) for r in cur.fetchall()), default=ts)
            cur.execute(_UPSERT_LATEST.format(table="resubscribes"), (uid, ch, max(ts, cleared)))

    @staticmethod
    def derive_from_events(cur: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`CapLedger.derive_from_events` with the PostgreSQL store's psycopg cursor."""
        feedback: list[tuple[str, str, float, str]] = []
        for r in rows:
            etype, uid, ts = str(r["event_type"]), str(r["user_id"]), float(r["ts"])
            if etype == "unsubscribe":
                ch = _event_channel(r.get("channel"))
                cur.execute(
                    "SELECT MAX(ts) FROM resubscribes WHERE user_id=%s AND channel IN (%s, %s)", (uid, ch, ALL_CHANNELS)
                )
                resub = cur.fetchone()[0]
                if resub is None or float(resub) < ts:
                    cur.execute(_UPSERT_LATEST.format(table="unsubscribes"), (uid, ch, ts))
            elif etype == "push_dismissed":
                feedback.append((uid, "dismissal", ts, str(r["event_id"])))
            elif etype == "feedback":
                feedback.extend(feedback_rows(uid, ts, str(r["event_id"]), r.get("payload")))
        if feedback:
            cur.executemany(
                "INSERT INTO feedback(user_id, kind, ts, event_id) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING",
                feedback,
            )

    def mark_derived(self, seq: int) -> None:
        with self._store.tx() as cur:
            cur.execute(
                "INSERT INTO ledger_meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = GREATEST(ledger_meta.value::bigint, EXCLUDED.value::bigint)::text",
                (_DERIVED_THROUGH, str(int(seq))),
            )


def _cap_state(uid: str, now: float, values: Sequence[Any]) -> CapState:
    opted_out, dismissals, negatives, too_many, sends = values
    return CapState(
        uid,
        now,
        frozenset(str(c) for c in opted_out),
        int(dismissals),
        int(negatives),
        bool(too_many),
        tuple(float(t) for t in sends),
    )
