"""The outcome tables: one row per booked send with what became of it, one row per attributed event.

``outcome_sends`` keeps each send's facts (who, what, where, how it was written and timed, which
experiment arm and campaign, the model versions, planned and booked times) and its outcome: the
first time it was delivered, opened, clicked, converted, dismissed or led to an unsubscribe, and the
sums of its purchases and feedback. Metrics are then one aggregation over this table.

``outcome_events`` holds the id of every event attributed to a send: an event id is applied once,
however often it is delivered or replayed. ``outcome_exposures`` keeps who an experiment or the global
control group assigned, pushed or held out (:mod:`recsvc.outcomes.exposures`). On SQLite the tables
live in the store's file (created here); on PostgreSQL the same tables come from migration steps 5
and 6 (:mod:`recsvc.store.migrations`).
"""

from __future__ import annotations

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcome_sends (
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
  planned_at REAL NOT NULL,
  booked_at REAL NOT NULL,
  delivered_at REAL,
  opened_at REAL,
  clicked_at REAL,
  converted_at REAL,
  dismissed_at REAL,
  unsubscribed_at REAL,
  purchases INTEGER NOT NULL DEFAULT 0,
  revenue REAL NOT NULL DEFAULT 0,
  feedback_n INTEGER NOT NULL DEFAULT 0,
  score_n INTEGER NOT NULL DEFAULT 0,
  score_sum REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outcome_sends_user ON outcome_sends(user_id, planned_at);
CREATE INDEX IF NOT EXISTS outcome_sends_booked ON outcome_sends(booked_at);
CREATE TABLE IF NOT EXISTS outcome_events (
  event_id TEXT PRIMARY KEY,
  dedupe_key TEXT NOT NULL,
  event_type TEXT NOT NULL,
  ts REAL NOT NULL,
  method TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcome_events_send ON outcome_events(dedupe_key);
CREATE TABLE IF NOT EXISTS outcome_exposures (
  user_id TEXT NOT NULL,
  experiment TEXT NOT NULL,
  arm TEXT NOT NULL,
  held_out INTEGER NOT NULL DEFAULT 0,
  first_at REAL NOT NULL,
  PRIMARY KEY (user_id, experiment)
);
CREATE INDEX IF NOT EXISTS outcome_exposures_experiment ON outcome_exposures(experiment, first_at);
"""

# The columns a booked send is written with, in order (the rest are outcomes, filled in by events).
SEND_COLUMNS = (
    "dedupe_key",
    "user_id",
    "item_id",
    "channel",
    "send_trigger",
    "stage",
    "tier",
    "writer",
    "variant",
    "locale",
    "send_time_source",
    "experiment",
    "arm",
    "campaign_id",
    "model_versions",
    "planned_at",
    "booked_at",
)
