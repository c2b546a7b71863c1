"""Versioned schema of the PostgreSQL store: an ordered list of ``(version, SQL)``, applied at start.

Each host runs :func:`migrate` when it opens the store; an advisory lock makes concurrent starts
apply each step once, and ``schema_version`` records what was applied. A database whose schema is
newer than this code knows is refused (``FailedPrecondition``): older code must not write into
tables whose meaning it does not know. Never edit a released step; append a new one. A step is
pending until its own version is recorded, not merely while it is above the highest one, so steps
written side by side (each independent of the others) apply whatever order they land in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsvc.errors import FailedPrecondition

# Any constant the other advisory locks (per user, catalog) cannot produce: they use two-key locks.
_MIGRATION_LOCK = 7_310_015_001

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  signup_ts DOUBLE PRECISION,
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
-- updated_at holds a value of items_stamp, taken under the catalog lock, so stamps grow in commit order.
CREATE SEQUENCE items_stamp;
CREATE TABLE items (
  item_id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  price DOUBLE PRECISION,
  currency TEXT NOT NULL DEFAULT '',
  image_url TEXT NOT NULL DEFAULT '',
  video_url TEXT NOT NULL DEFAULT '',
  audio_url TEXT NOT NULL DEFAULT '',
  in_stock INTEGER NOT NULL DEFAULT 1,
  cities TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  attributes TEXT NOT NULL DEFAULT '{}',
  updated_at DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX items_updated ON items(updated_at);
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  ts DOUBLE PRECISION NOT NULL,
  event_type TEXT NOT NULL,
  item_id TEXT,
  quantity DOUBLE PRECISION,
  value DOUBLE PRECISION,
  channel TEXT,
  campaign_id TEXT,
  variant TEXT,
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  city TEXT,
  payload TEXT,
  ts_offset_min INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_user_ts ON events(user_id, ts);
CREATE INDEX events_type ON events(event_type);
""",
    ),
    (
        2,
        """
CREATE TABLE sends (
  id BIGSERIAL PRIMARY KEY,
  user_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  tier INTEGER NOT NULL,
  ts DOUBLE PRECISION NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  key_moment INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sends_user_ts ON sends(user_id, ts);
CREATE TABLE feedback (
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ts DOUBLE PRECISION NOT NULL,
  event_id TEXT
);
CREATE INDEX feedback_user_ts ON feedback(user_id, ts);
CREATE UNIQUE INDEX feedback_event ON feedback(event_id) WHERE event_id IS NOT NULL;
CREATE TABLE unsubscribes (
  user_id TEXT NOT NULL, channel TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (user_id, channel)
);
CREATE TABLE resubscribes (
  user_id TEXT NOT NULL, channel TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (user_id, channel)
);
CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""",
    ),
    (
        3,
        """
CREATE TABLE bandit_arms (
  context TEXT NOT NULL,
  variant_set TEXT NOT NULL,
  variant TEXT NOT NULL,
  alpha DOUBLE PRECISION NOT NULL,
  beta DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (context, variant_set, variant)
);
""",
    ),
    (
        4,
        """
CREATE TABLE copy_cache (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  cta TEXT NOT NULL,
  model TEXT NOT NULL,
  written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, key)
);
""",
    ),
    (
        5,
        """
CREATE TABLE outcome_sends (
  dedupe_key TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  item_id TEXT NOT NULL DEFAULT '',
  channel TEXT NOT NULL,
  send_trigger TEXT NOT NULL DEFAULT '',
  stage TEXT NOT NULL DEFAULT '',
  tier TEXT NOT NULL DEFAULT '',
  writer TEXT NOT NULL DEFAULT '',
  variant TEXT NOT NULL DEFAULT '',
  locale TEXT NOT NULL DEFAULT '',
  send_time_source TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '',
  arm TEXT NOT NULL DEFAULT '',
  campaign_id TEXT NOT NULL DEFAULT '',
  model_versions TEXT NOT NULL DEFAULT '{}',
  planned_at DOUBLE PRECISION NOT NULL,
  booked_at DOUBLE PRECISION NOT NULL,
  delivered_at DOUBLE PRECISION,
  opened_at DOUBLE PRECISION,
  clicked_at DOUBLE PRECISION,
  converted_at DOUBLE PRECISION,
  dismissed_at DOUBLE PRECISION,
  unsubscribed_at DOUBLE PRECISION,
  purchases INTEGER NOT NULL DEFAULT 0,
  revenue DOUBLE PRECISION NOT NULL DEFAULT 0,
  feedback_n INTEGER NOT NULL DEFAULT 0,
  score_n INTEGER NOT NULL DEFAULT 0,
  score_sum DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX outcome_sends_user ON outcome_sends(user_id, planned_at);
CREATE INDEX outcome_sends_booked ON outcome_sends(booked_at);
CREATE TABLE outcome_events (
  event_id TEXT PRIMARY KEY,
  dedupe_key TEXT NOT NULL,
  event_type TEXT NOT NULL,
  ts DOUBLE PRECISION NOT NULL,
  method TEXT NOT NULL
);
CREATE INDEX outcome_events_send ON outcome_events(dedupe_key);
""",
    ),
    (
        6,
        """
CREATE TABLE outcome_exposures (
  user_id TEXT NOT NULL,
  experiment TEXT NOT NULL,
  arm TEXT NOT NULL,
  held_out INTEGER NOT NULL DEFAULT 0,
  first_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (user_id, experiment)
);
CREATE INDEX outcome_exposures_experiment ON outcome_exposures(experiment, first_at);
""",
    ),
    (
        7,
        """
CREATE TABLE experiments (
  id TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL
);
""",
    ),
)

LATEST = max(v for v, _ in MIGRATIONS)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class SchemaStatus:
    current: int  # the highest version applied (0: an empty database)
    latest: int  # the highest version this code knows
    pending: tuple[int, ...]
    unknown: tuple[int, ...] = ()  # applied by newer code: steps this code does not know

    @property
    def too_new(self) -> bool:
        return bool(self.unknown)


def _applied(cur: Any) -> set[int]:
    cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    if not cur.fetchone()[0]:
        return set()
    cur.execute("SELECT version FROM schema_version")
    return {int(r[0]) for r in cur.fetchall()}


def status(conn: Any) -> SchemaStatus:
    """Which schema version the database has, and which steps this code would apply."""
    with conn.cursor() as cur:
        applied = _applied(cur)
    known = {v for v, _ in MIGRATIONS}
    return SchemaStatus(
        max(applied, default=0),
        LATEST,
        tuple(v for v, _ in MIGRATIONS if v not in applied),
        tuple(sorted(applied - known)),
    )


def refuse_if_too_new(st: SchemaStatus, where: str) -> None:
    if st.too_new:
        raise FailedPrecondition(
            f"{where}: database schema has step(s) {', '.join(map(str, st.unknown))}, newer than this recsvc "
            f"knows (up to {st.latest}); upgrade recsvc, or point paths.store at another database",
            field="paths.store",
        )


def migrate(conn: Any, where: str) -> list[int]:
    """Apply every pending step in order, all in one transaction; returns the versions applied.

    ``conn`` is an autocommit psycopg connection; ``where`` names the database in messages.
    """
    applied: list[int] = []
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        cur.execute(_VERSION_TABLE)
        st = status(conn)
        refuse_if_too_new(st, where)
        for version, sql in MIGRATIONS:
            if version in st.pending:
                cur.execute(sql)
                cur.execute("INSERT INTO schema_version(version) VALUES (%s)", (version,))
                applied.append(version)
    return applied
