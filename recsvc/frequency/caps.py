"""Durable frequency caps shared by every server process on one machine (SQLite, WAL).

``reserve`` is an atomic check-and-insert inside ``BEGIN IMMEDIATE``: SQLite lets one writer in at
a time across processes, so concurrent reservations can never push a user past their cap. Caps are
rolling (any 24 h, any 7 days) across all campaigns and channels, whatever order requests arrive
in: a new send is checked against every window that would contain it, so booked sends later than
the request's ``now`` count too (:mod:`recsvc.frequency.windows`). Recent dismissals and negative
feedback lower the weekly cap. DORMANT users get key moments only (cart idle, purchase follow-up,
geo entry) when ``dormant_key_moments_only`` is set; key moments still count against the cap.
Unsubscribes take effect on the very next call (no cache).

Opt-outs and feedback rows are derived from stored events. :meth:`CapLedger.derive_from_events`
writes them with the event store's cursor, inside the transaction that commits the events, so an
event is never stored without its effect; it is idempotent, so replaying events (to rebuild what
older code could lose between two commits) changes nothing that is already there.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsvc.errors import InvalidArgument
from recsvc.feedback.payload import read_payload
from recsvc.frequency.config import FrequencyConfig
from recsvc.frequency.windows import DAY, WEEK, earliest_fit, fits
from recsvc.store.sqlite_connect import connect_sqlite
from recsvc.vocabulary import CHANNELS, EngagementTier

if TYPE_CHECKING:
    from recsvc.store.protocol import EventStore

logger = logging.getLogger(__name__)

ALL_CHANNELS = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    tier INTEGER NOT NULL,
    ts REAL NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    key_moment INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sends_user_ts ON sends(user_id, ts);
CREATE TABLE IF NOT EXISTS feedback (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_user_ts ON feedback(user_id, ts);
CREATE TABLE IF NOT EXISTS unsubscribes (
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, channel)
);
CREATE TABLE IF NOT EXISTS resubscribes (
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, channel)
);
CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Feedback rows derived from an event carry its id, so replaying the event cannot double them.
_FEEDBACK_EVENT_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS feedback_event ON feedback(event_id) WHERE event_id IS NOT NULL"
)
_DERIVED_THROUGH = "events_derived_through"
# A DB-API cursor taking ``?`` parameters: sqlite3's, or caps_pg's adapter around a psycopg cursor.
Cursor = Any
# Writes what else a booked send implies (its attribution record) with the reservation's own cursor (a
# sqlite3 cursor, or a psycopg one on PostgreSQL), so both commit together or not at all.
BookingHook = Callable[[Cursor, "Reservation"], None]
# Event types whose effects live in this ledger (see :meth:`CapLedger.derive_from_events`).
DERIVING_EVENT_TYPES: tuple[str, ...] = ("unsubscribe", "push_dismissed", "feedback")
TOO_MANY_SUFFIX = ":too_many"


@dataclass(frozen=True)
class Reservation:
    """A planned send holding one unit of the user's cap until released."""

    id: int
    user_id: str
    channel: str
    tier: EngagementTier
    at_utc: datetime
    dedupe_key: str
    key_moment: bool
    duplicate: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why a send may not happen: ``code`` for machines, ``reason`` for people."""

    code: str  # UNSUBSCRIBED | DAILY_CAP | WEEKLY_CAP | DORMANT_KEY_MOMENTS_ONLY
    reason: str
    retry_after_utc: datetime | None = None


def _secs(dt: datetime, name: str) -> float:
    if dt.tzinfo is None:
        raise InvalidArgument(f"{name} must be timezone-aware (UTC)", field=name)
    return dt.timestamp()


def _channel(ch: str, *, allow_all: bool = False) -> str:
    c = str(ch).strip().lower()
    if c in CHANNELS or (allow_all and c == ALL_CHANNELS):
        return c
    raise InvalidArgument(f"channel: unknown channel {ch!r} (known: {', '.join(CHANNELS)})", field="channel")


def _tier(tier: EngagementTier | int) -> EngagementTier:
    try:
        return EngagementTier(int(tier))
    except ValueError:
        raise InvalidArgument(f"tier: unknown engagement tier {tier!r}", field="tier") from None


def _window_note(sends: list[float], now: float, window: float) -> str:
    """Say so when sends booked after ``now`` fill the window: the caller may expect only past ones."""
    later = sum(1 for s in sends if now < s < now + window)
    return f" (counting {later} send(s) booked after this request's time)" if later else ""


def _upsert_latest(cur: sqlite3.Cursor, table: str, uid: str, ch: str, ts: float) -> None:
    """Insert the (user, channel) row of ``unsubscribes`` / ``resubscribes``, keeping the later time."""
    cur.execute(
        f"INSERT INTO {table}(user_id, channel, ts) VALUES (?,?,?) "
        "ON CONFLICT(user_id, channel) DO UPDATE SET ts=MAX(ts, excluded.ts)",
        (uid, ch, ts),
    )


def _event_channel(ch: object) -> str:
    """The channel an unsubscribe event names; none (or one unknown here) means every channel."""
    c = str(ch or "").strip().lower()
    return c if c in CHANNELS else ALL_CHANNELS


def feedback_rows(uid: str, ts: float, event_id: str, payload: object) -> list[tuple[str, str, float, str]]:
    """The ``feedback`` rows a feedback event implies: "negative" for a low rating, "too_many" for
    that reason. The too_many row's id is the event's with a suffix, so both rows stay keyed by it."""
    read = read_payload(payload)
    if read is None:
        return []
    rows = [(uid, "negative", ts, event_id)] if read.negative else []
    if "too_many" in read.reasons:
        rows.append((uid, "too_many", ts, event_id + TOO_MANY_SUFFIX))
    return rows


def _derive_unsubscribe(cur: sqlite3.Cursor, uid: str, ch: str, ts: float) -> None:
    resub = cur.execute(
        "SELECT MAX(ts) FROM resubscribes WHERE user_id=? AND channel IN (?, ?)", (uid, ch, ALL_CHANNELS)
    ).fetchone()[0]
    if resub is not None and float(resub) >= ts:
        return  # the user resubscribed after this event: the later choice stands
    _upsert_latest(cur, "unsubscribes", uid, ch, ts)


# A feedback row written for an event before rows carried event ids is claimed rather than doubled.
_CLAIM_FEEDBACK = (
    "UPDATE feedback SET event_id=? WHERE rowid=(SELECT rowid FROM feedback "
    "WHERE user_id=? AND kind=? AND ts=? AND event_id IS NULL LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM feedback WHERE event_id=?)"
)


def _derive_feedback(cur: sqlite3.Cursor, rows: list[tuple[str, str, float, str]]) -> None:
    """``(user_id, kind, ts, event_id)`` rows, in bulk (imports carry many dismissals)."""
    cur.executemany(_CLAIM_FEEDBACK, [(e, u, k, t, e) for u, k, t, e in rows])
    cur.executemany("INSERT OR IGNORE INTO feedback(user_id, kind, ts, event_id) VALUES (?,?,?,?)", rows)


@dataclass(frozen=True)
class CapFacts:
    """One user's state that a cap verdict depends on."""

    unsubscribed: bool  # from the channel asked for, or from all
    dismissals: int  # in the last ``penalty_days``
    negatives: int  # negative ratings in the last ``penalty_days``
    too_many: bool  # a "too many messages" in the last ``too_many_days``
    sends: list[float]  # booked send times after ``now - 7 days``, ascending


@dataclass(frozen=True)
class CapState:
    """Everything a user's verdicts at ``now`` read, for every channel at once: the opt-outs and the
    channel-free facts. ``Recommend`` reads it once (one round trip on PostgreSQL), takes the opt-outs
    to choose a channel, then judges that channel from it with :meth:`CapLedger.verdict`."""

    user_id: str
    now: float  # seconds since the epoch
    opted_out: frozenset[str]  # channels as stored: ``"*"`` stands for every channel
    dismissals: int
    negatives: int
    too_many: bool
    sends: tuple[float, ...]  # as :attr:`CapFacts.sends`

    def unsubscribed_channels(self) -> set[str]:
        """As :meth:`CapLedger.unsubscribed_channels`: every channel if the user left ``"*"``."""
        return set(CHANNELS) if ALL_CHANNELS in self.opted_out else set(self.opted_out)

    def facts(self, ch: str) -> CapFacts:
        """The facts of a verdict for channel ``ch`` (a known channel, as :func:`_channel` gives)."""
        unsubscribed = ch in self.opted_out or ALL_CHANNELS in self.opted_out
        return CapFacts(unsubscribed, self.dismissals, self.negatives, self.too_many, list(self.sends))


def _states_of(cur: Cursor, ids: list[str], now: float, cfg: FrequencyConfig) -> dict[str, CapState]:
    """What verdicts read of each of at most 500 users: opt-outs, feedback penalties, "too many" and
    booked sends, each one statement over ``user_id IN``."""
    marks = ",".join("?" * len(ids))
    opted: dict[str, set[str]] = {}
    for uid, ch in cur.execute(f"SELECT user_id, channel FROM unsubscribes WHERE user_id IN ({marks})", ids):
        opted.setdefault(str(uid), set()).add(str(ch))
    counts: dict[str, dict[str, int]] = {}
    sql = (
        f"SELECT user_id, kind, COUNT(*) FROM feedback WHERE user_id IN ({marks}) AND ts>=? AND ts<=? "
        "GROUP BY user_id, kind"
    )
    for uid, kind, n in cur.execute(sql, (*ids, now - cfg.penalty_days * 86400.0, now)):
        counts.setdefault(str(uid), {})[kind] = n
    sql = f"SELECT DISTINCT user_id FROM feedback WHERE user_id IN ({marks}) AND kind='too_many' AND ts>=? AND ts<=?"
    too_many = {str(r[0]) for r in cur.execute(sql, (*ids, now - cfg.too_many_days * 86400.0, now))}
    # Every booked send that can share a 7-day window with ``now``, on both sides of it, plus later
    # ones so that ``retry_after`` can step past sends booked ahead.
    sends: dict[str, list[float]] = {}
    sql = f"SELECT user_id, ts FROM sends WHERE user_id IN ({marks}) AND ts>? ORDER BY user_id, ts"
    for uid, ts in cur.execute(sql, (*ids, now - WEEK)):
        sends.setdefault(str(uid), []).append(float(ts))
    out = {}
    for uid in ids:
        n = counts.get(uid, {})
        out[uid] = CapState(
            uid,
            now,
            frozenset(opted.get(uid, ())),
            int(n.get("dismissal", 0)),
            int(n.get("negative", 0)),
            uid in too_many,
            tuple(sends.get(uid, ())),
        )
    return out


class CapLedger:
    """Planned sends, feedback and unsubscribes in one SQLite file; safe across threads and processes."""

    def __init__(self, db_path: str | Path, config: FrequencyConfig | None = None) -> None:
        self.config = (config or FrequencyConfig()).validate()
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # durable: a reservation or opt-out acknowledged to the caller must survive a power cut
        self._conn = connect_sqlite(self.path, timeout_s=self.config.sqlite_busy_timeout_ms / 1000.0)
        with self._tx() as cur:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            if "event_id" not in {r[1] for r in cur.execute("PRAGMA table_info(feedback)")}:
                cur.execute("ALTER TABLE feedback ADD COLUMN event_id TEXT")
            cur.execute(_FEEDBACK_EVENT_INDEX)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CapLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` (write lock up front, so check-then-insert is atomic across processes)."""
        with self._lock:
            cur = self._conn.cursor()
            for attempt in range(50):
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:  # busy beyond busy_timeout: back off and retry
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    time.sleep(min(0.5, 0.01 * (attempt + 1)))
            else:
                cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        """Reads need no write lock: WAL readers see the last committed state without blocking writers."""
        with self._lock:
            yield self._conn.cursor()

    # --------------------------------------------------------------------------- caps
    def _state(self, cur: Cursor, uid: str, now: float) -> CapState:
        """What a verdict reads of one user: a few small indexed queries on the local file (a shared
        database answers them in one round trip: :class:`~recsvc.frequency.caps_pg.PgCapLedger`)."""
        return _states_of(cur, [uid], now, self.config)[uid]

    def effective_caps(self, facts: CapFacts, tier: EngagementTier, key_moment: bool) -> tuple[int, int]:
        """(daily, weekly) cap after recent dismissals / negative feedback, and "too many messages"
        (which scales the weekly cap by ``too_many_cap_factor`` for ``too_many_days``, before penalties)."""
        cfg = self.config
        penalty = facts.dismissals * cfg.dismissal_penalty + facts.negatives * cfg.negative_feedback_penalty
        base = cfg.weekly_cap(tier)
        if facts.too_many:
            base = math.floor(base * cfg.too_many_cap_factor + 1e-9)
        weekly = max(0, base - math.ceil(penalty - 1e-9))
        if key_moment:
            weekly = max(weekly, min(cfg.key_moment_floor, cfg.weekly_cap(tier)))
        return min(cfg.daily_cap(tier), weekly), weekly

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
        with self._tx() as cur:
            row = cur.execute(
                "SELECT id, user_id, channel, tier, ts, key_moment FROM sends WHERE dedupe_key=?",
                (dedupe_key,),
            ).fetchone()
            if row is not None:
                return Reservation(
                    int(row[0]),
                    str(row[1]),
                    str(row[2]),
                    EngagementTier(int(row[3])),
                    datetime.fromtimestamp(row[4], UTC),
                    dedupe_key,
                    bool(row[5]),
                    duplicate=True,
                )
            refusal = self._verdict(cur, uid, ch, t, now, key_moment)
            if refusal is not None:
                return refusal
            cur.execute(
                "INSERT INTO sends(user_id, channel, tier, ts, dedupe_key, key_moment) VALUES (?,?,?,?,?,?)",
                (uid, ch, int(t), now, dedupe_key, int(key_moment)),
            )
            booked = Reservation(int(cur.lastrowid or 0), uid, ch, t, now_utc.astimezone(UTC), dedupe_key, key_moment)
            if on_booked is not None:
                on_booked(cur, booked)
        return booked

    def _verdict(
        self, cur: Cursor, uid: str, ch: str, t: EngagementTier, now: float, key_moment: bool
    ) -> Refusal | None:
        """Why a send would be refused now (None = allowed); runs inside the caller's transaction."""
        return self._judge(self._state(cur, uid, now).facts(ch), ch, t, now, key_moment)

    def _judge(self, facts: CapFacts, ch: str, t: EngagementTier, now: float, key_moment: bool) -> Refusal | None:
        """The verdict on ``facts`` (read at ``now``); reads nothing."""
        if facts.unsubscribed:
            return Refusal("UNSUBSCRIBED", f"user unsubscribed from {ch}")
        if t is EngagementTier.DORMANT and self.config.dormant_key_moments_only and not key_moment:
            return Refusal(
                "DORMANT_KEY_MOMENTS_ONLY",
                "DORMANT tier receives key moments only; scheduled campaigns are suppressed",
            )
        daily, weekly = self.effective_caps(facts, t, key_moment)
        sends = facts.sends
        for code, name, window, cap in (("WEEKLY_CAP", "weekly", WEEK, weekly), ("DAILY_CAP", "daily", DAY, daily)):
            if not fits(sends, now, window, cap):
                retry = earliest_fit(sends, now, ((DAY, daily), (WEEK, weekly)))
                return Refusal(
                    code,
                    f"{name} cap of {cap} for {t.name} tier reached{_window_note(sends, now, window)}",
                    None if retry is None else datetime.fromtimestamp(retry, UTC),
                )
        return None

    def check(
        self, user_id: str, channel: str, tier: EngagementTier | int, now_utc: datetime, *, key_moment: bool = False
    ) -> Refusal | None:
        """The verdict :meth:`reserve` would give, without booking anything (previews, dashboards)."""
        t, ch = _tier(tier), _channel(channel)  # refused before anything is read
        return self.verdict(self.cap_state(user_id, now_utc), ch, t, key_moment=key_moment)

    def cap_state(self, user_id: str, now_utc: datetime) -> CapState:
        """What every verdict for this user at ``now_utc`` reads, whatever the channel: opt-outs,
        feedback and booked sends, read together (one statement on PostgreSQL). Judge a channel
        with :meth:`verdict`; :meth:`check` is the two in one call."""
        now = _secs(now_utc, "now_utc")
        with self._read() as cur:
            return self._state(cur, str(user_id), now)

    def user_and_state(
        self, store: EventStore, user_id: str, now_utc: datetime
    ) -> tuple[dict[str, Any] | None, tuple[int, float], CapState]:
        """The user's row, history signature (:meth:`EventStore.user_and_signature`) and
        :meth:`cap_state`: everything a ``Recommend`` reads of the user before deciding (one statement
        on PostgreSQL when ``store`` holds the ledger's tables)."""
        found, sig = store.user_and_signature(user_id)
        return found, sig, self.cap_state(user_id, now_utc)

    def cap_states(self, user_ids: Sequence[str], now_utc: datetime) -> dict[str, CapState]:
        """:meth:`cap_state` of each of ``user_ids`` at ``now_utc``, four statements per 500 users (a
        batch chunk reads its users' states together instead of four statements per user)."""
        now = _secs(now_utc, "now_utc")
        ids = [str(u) for u in dict.fromkeys(user_ids)]
        with self._read() as cur:
            parts = [_states_of(cur, ids[i : i + 500], now, self.config) for i in range(0, len(ids), 500)]
        return {u: s for part in parts for u, s in part.items()}

    def users_and_states(
        self, store: EventStore, user_ids: Sequence[str], now_utc: datetime
    ) -> dict[str, tuple[dict[str, Any] | None, tuple[int, float], CapState]]:
        """:meth:`user_and_state` of each of ``user_ids``, read together."""
        found = store.users_and_signatures(user_ids)
        states = self.cap_states(user_ids, now_utc)
        return {u: (user, sig, states[str(u)]) for u, (user, sig) in found.items()}

    def verdict(
        self, state: CapState, channel: str, tier: EngagementTier | int, *, key_moment: bool = False
    ) -> Refusal | None:
        """The verdict :meth:`check` gives at ``state.now`` for ``channel``, from a state read by
        :meth:`cap_state` (nothing is read again: what was committed since does not count)."""
        t = _tier(tier)
        ch = _channel(channel)
        return self._judge(state.facts(ch), ch, t, state.now, key_moment)

    def release(self, reservation: Reservation) -> bool:
        """Give a planned send's cap unit back (the send was cancelled); False if already released."""
        with self._tx() as cur:
            cur.execute("DELETE FROM sends WHERE id=?", (reservation.id,))
            return cur.rowcount > 0

    # --------------------------------------------------------------------------- feedback
    def record_dismissal(self, user_id: str, at_utc: datetime) -> None:
        """A dismissed push lowers the user's weekly cap for ``penalty_days``."""
        self._feedback(user_id, "dismissal", at_utc)

    def record_negative_feedback(self, user_id: str, at_utc: datetime) -> None:
        """Explicit negative feedback ("too many messages") lowers the weekly cap more."""
        self._feedback(user_id, "negative", at_utc)

    def _feedback(self, user_id: str, kind: str, at_utc: datetime) -> None:
        ts = _secs(at_utc, "at_utc")
        with self._tx() as cur:
            cur.execute("INSERT INTO feedback(user_id, kind, ts) VALUES (?,?,?)", (str(user_id), kind, ts))

    # --------------------------------------------------------------------------- subscriptions
    def unsubscribe(self, user_id: str, channel: str = ALL_CHANNELS, at_utc: datetime | None = None) -> None:
        """Stop every send on ``channel`` (``"*"`` = all channels) from the next call on."""
        ch = _channel(channel, allow_all=True)
        ts = _secs(at_utc, "at_utc") if at_utc is not None else time.time()
        with self._tx() as cur:
            _upsert_latest(cur, "unsubscribes", str(user_id), ch, ts)

    def resubscribe(self, user_id: str, channel: str = ALL_CHANNELS, at_utc: datetime | None = None) -> None:
        """Undo an unsubscribe (``"*"`` clears every channel).

        The resubscription is remembered with a time no earlier than the opt-outs it clears, so that
        replaying the events behind those opt-outs (:meth:`derive_from_events`) does not restore them.
        """
        ch = _channel(channel, allow_all=True)
        ts = _secs(at_utc, "at_utc") if at_utc is not None else time.time()
        uid = str(user_id)
        where, args = ("user_id=?", (uid,)) if ch == ALL_CHANNELS else ("user_id=? AND channel=?", (uid, ch))
        with self._tx() as cur:
            cleared = cur.execute(f"SELECT MAX(ts) FROM unsubscribes WHERE {where}", args).fetchone()[0]
            cur.execute(f"DELETE FROM unsubscribes WHERE {where}", args)
            _upsert_latest(cur, "resubscribes", uid, ch, max(ts, float(cleared or ts)))

    # --------------------------------------------------------------------------- derived from events
    @staticmethod
    def derive_from_events(cur: sqlite3.Cursor, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write the opt-outs and feedback rows that stored events imply, with the caller's cursor.

        Meant to run inside the transaction that stores the events (and the same SQLite file), so an
        event and its effect commit together. Idempotent: an opt-out is (re)applied unless a later
        resubscription supersedes it, and a feedback row is keyed by its event id.
        """
        feedback: list[tuple[str, str, float, str]] = []
        for r in rows:
            etype, uid, ts = str(r["event_type"]), str(r["user_id"]), float(r["ts"])
            if etype == "unsubscribe":
                _derive_unsubscribe(cur, uid, _event_channel(r.get("channel")), ts)
            elif etype == "push_dismissed":
                feedback.append((uid, "dismissal", ts, str(r["event_id"])))
            elif etype == "feedback":
                feedback.extend(feedback_rows(uid, ts, str(r["event_id"]), r.get("payload")))
        if feedback:
            _derive_feedback(cur, feedback)

    def derived_through(self) -> int:
        """The event ``seq`` up to which every event's derived rows are known to be written."""
        with self._read() as cur:
            row = cur.execute("SELECT value FROM ledger_meta WHERE key=?", (_DERIVED_THROUGH,)).fetchone()
        return int(row[0]) if row else 0

    def mark_derived(self, seq: int) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO ledger_meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (_DERIVED_THROUGH, str(int(seq))),
            )

    def is_unsubscribed(self, user_id: str, channel: str) -> bool:
        ch = _channel(channel)
        with self._read() as cur:
            return (
                cur.execute(
                    "SELECT 1 FROM unsubscribes WHERE user_id=? AND channel IN (?, ?)",
                    (str(user_id), ch, ALL_CHANNELS),
                ).fetchone()
                is not None
            )

    def unsubscribed_channels(self, user_id: str) -> set[str]:
        """Channels the user left (every channel if they left ``"*"``)."""
        with self._read() as cur:
            rows = {r[0] for r in cur.execute("SELECT channel FROM unsubscribes WHERE user_id=?", (str(user_id),))}
        return set(CHANNELS) if ALL_CHANNELS in rows else rows

    def sends_for(self, user_id: str, since: datetime) -> list[Reservation]:
        """Planned sends of a user at or after ``since``, oldest first."""
        s = _secs(since, "since")
        with self._read() as cur:
            rows = cur.execute(
                "SELECT id, user_id, channel, tier, ts, dedupe_key, key_moment FROM sends "
                "WHERE user_id=? AND ts>=? ORDER BY ts, id",
                (str(user_id), s),
            ).fetchall()
        return [
            Reservation(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                EngagementTier(int(r[3])),
                datetime.fromtimestamp(r[4], UTC),
                str(r[5]),
                bool(r[6]),
            )
            for r in rows
        ]

    def booked_since(self, user_id: str, since: datetime, key_prefix: str) -> bool:
        """Whether a send whose dedupe key starts with ``key_prefix`` is booked at or after ``since``."""
        with self._read() as cur:
            row = cur.execute(
                "SELECT 1 FROM sends WHERE user_id=? AND ts>=? AND dedupe_key LIKE ? LIMIT 1",
                (str(user_id), _secs(since, "since"), key_prefix + "%"),
            ).fetchone()
        return row is not None
