"""Opt-outs and cap feedback derived from events: stored with the events, and rebuilt at start."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recsvc.engine.engine import Engine
from recsvc.frequency.caps import CapLedger
from recsvc.settings import Settings, load_settings
from recsvc.store import Store

TS = datetime(2024, 6, 3, 12, 0, tzinfo=UTC).timestamp()
ROOT = Path(__file__).resolve().parents[3]


def _settings(tmp_path: Path) -> Settings:
    return load_settings(env={}).with_overrides(
        paths={"store": str(tmp_path / "recsvc.db"), "models_dir": str(tmp_path / "models")},
        copy={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.5, "max_retries": 0},
    )


def _event(eid: str, user: str, etype: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "user_id": user, "ts": TS, "event_type": etype, "ts_offset_min": 0, **kw}


def _opted_out(db: Path) -> set[str]:
    ledger = CapLedger(db)
    try:
        return {str(r[0]) for r in ledger._conn.execute("SELECT DISTINCT user_id FROM unsubscribes")}
    finally:
        ledger.close()


def _unsubscribe_events(db: Path) -> int:
    store = Store(db)
    try:
        return store.count_events("unsubscribe")
    finally:
        store.close()


# The child reports batches of unsubscribes through Engine.report_events and dies (os._exit, no
# cleanup, like kill -9) right after the store commits the third batch.
_CHILD = """
import os, sys
from recsvc.engine.engine import Engine
from recsvc.settings import load_settings
from recsvc.store import Store

settings = load_settings(env={}).with_overrides(
    paths={"store": sys.argv[1], "models_dir": sys.argv[2]},
    copy={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.5, "max_retries": 0},
)
engine = Engine(settings)
commits = 0
original = Store.add_events

def add_events_then_crash(self, rows, **kw):
    global commits
    out = original(self, rows, **kw)
    commits += 1
    if commits == 3:
        os._exit(137)
    return out

Store.add_events = add_events_then_crash
for batch in range(10):
    rows = [
        {"event_id": f"e{batch}-{i}", "user_id": f"u{batch}-{i}", "ts": 1717416000.0 + i,
         "event_type": "unsubscribe", "channel": "app_push", "ts_offset_min": 0}
        for i in range(50)
    ]
    engine.report_events([(r, "", "") for r in rows], [r["event_id"] for r in rows])
"""


def test_a_crash_right_after_the_event_commit_loses_no_opt_out(tmp_path: Path) -> None:
    db = tmp_path / "recsvc.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), str(tmp_path / "models")], env=env, timeout=120, check=False
    )
    assert done.returncode == 137
    stored = _unsubscribe_events(db)
    assert stored == 150  # three batches committed before the crash
    # A plain ledger (no reconciliation at start): the opt-outs must have committed with the events.
    assert len(_opted_out(db)) == stored


def test_opening_the_engine_rebuilds_opt_outs_and_feedback_missing_for_stored_events(tmp_path: Path) -> None:
    """Events stored without their derived rows (one of them already has its row): a start writes the rest."""
    settings = _settings(tmp_path)
    db = Path(settings.paths.store)
    ledger = CapLedger(db)
    ledger.record_dismissal("d", datetime.fromtimestamp(TS, UTC))  # the row of event "dis-1"
    ledger.close()
    store = Store(db)
    store.add_events(
        [
            _event("un-1", "a", "unsubscribe", channel="email"),
            _event("un-2", "b", "unsubscribe"),
            _event("dis-1", "d", "push_dismissed"),
            _event("dis-2", "d", "push_dismissed", ts=TS + 60),
            _event("fb-1", "d", "feedback", payload=json.dumps({"rating": 1})),
            _event("fb-2", "d", "feedback", payload=json.dumps({"rating": 5})),
            _event("v-1", "a", "view", item_id="i1"),
        ]
    )
    store.close()
    assert _opted_out(db) == set()
    for _ in range(2):  # a second start changes nothing
        engine = Engine(settings)
        try:
            assert engine.caps.unsubscribed_channels("a") == {"email"}
            assert engine.caps.unsubscribed_channels("b") == {"app_push", "sms", "email", "in_app"}
            kinds = engine.caps._conn.execute(
                "SELECT kind, COUNT(*) FROM feedback WHERE user_id='d' GROUP BY kind ORDER BY kind"
            ).fetchall()
            assert kinds == [("dismissal", 2), ("negative", 1)]  # the existing row is not doubled
        finally:
            engine.close()


def test_an_unsubscribe_whose_opt_out_fails_is_not_stored_so_the_retry_applies_it(tmp_path: Path) -> None:
    """The opt-out write fails (a trigger stands in for a full disk): the event must not be stored
    either, or the client's retry would be a "duplicate" and the opt-out would never be written."""
    settings = _settings(tmp_path)
    engine = Engine(settings)
    db = settings.paths.store
    try:
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE TRIGGER fail_opt_out BEFORE INSERT ON unsubscribes "
                "BEGIN SELECT RAISE(ABORT, 'opt-out write failed'); END"
            )
        row = _event("un-1", "a", "unsubscribe", channel="sms")
        with pytest.raises(sqlite3.Error):
            engine.report_events([(row, "", "")], ["un-1"])
        assert _unsubscribe_events(Path(db)) == 0
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TRIGGER fail_opt_out")
        retry = engine.report_events([(row, "", "")], ["un-1"])
        assert (retry.accepted, retry.duplicate) == (1, 0)
        assert engine.caps.unsubscribed_channels("a") == {"sms"}
    finally:
        engine.close()
