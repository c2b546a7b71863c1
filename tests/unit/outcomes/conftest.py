"""An outcome log on each store backend (SQLite file, PostgreSQL database), with helpers that book
sends through the caps ledger and report events through the store, as the engine does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recsvc.frequency import open_ledger
from recsvc.frequency.caps import CapLedger, Reservation
from recsvc.outcomes import Attribution, AttributionConfig, OutcomeLog, SendRecord
from recsvc.store import EventStore, event_id_for, open_store
from recsvc.vocabulary import EngagementTier

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def record(key: str, user: str = "u1", *, booked: datetime = T0, planned_h: float = 1.0, **kw: Any) -> SendRecord:
    """A send booked at ``booked`` and planned ``planned_h`` hours later."""
    values: dict[str, Any] = {
        "dedupe_key": key,
        "user_id": user,
        "item_id": "i1",
        "channel": "app_push",
        "trigger": "scheduled",
        "stage": "interest",
        "tier": "high",
        "writer": "template",
        "variant": "v1",
        "locale": "en-US",
        "send_time_source": "model",
        "planned_at": booked + timedelta(hours=planned_h),
        "booked_at": booked,
        "model_versions": {"recs": "r1"},
    }
    values.update(kw)
    return SendRecord(**values)


def event(eid: str, etype: str, at: datetime, user: str = "u1", **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "user_id": user, "ts": at.timestamp(), "event_type": etype, "ts_offset_min": 0, **kw}


@dataclass
class OutcomeDb:
    store: EventStore
    ledger: CapLedger
    log: OutcomeLog
    attributed: list[Attribution] = field(default_factory=list)

    def book(self, rec: SendRecord) -> None:
        got = self.ledger.reserve(
            rec.user_id,
            rec.channel,
            EngagementTier.HIGH,
            rec.booked_at,
            dedupe_key=rec.dedupe_key,
            key_moment=True,
            on_booked=self.log.booking_hook(rec),
        )
        assert isinstance(got, Reservation) and not got.duplicate

    def report(self, *rows: dict[str, Any]) -> list[Attribution]:
        """Store ``rows`` as ReportEvents does (a row's ``dedupe_key`` names its send); returns what
        this call attributed."""
        good = [{**r, "event_id": r.get("event_id") or event_id_for(r)} for r in rows]
        keys = {r["event_id"]: r["dedupe_key"] for r in good if r.get("dedupe_key")}
        done: list[Attribution] = []
        self.store.add_events(good, derive=self.log.deriving(self.ledger.derive_from_events, keys, done))
        self.attributed.extend(done)
        return done


OutcomeDbFactory = Callable[..., OutcomeDb]


@pytest.fixture
def outcome_dbs(store_location: str) -> Iterator[OutcomeDbFactory]:
    """``make(config)`` opens one more handle on the same store, as another process or host would."""
    opened: list[OutcomeDb] = []

    def make(config: AttributionConfig | None = None) -> OutcomeDb:
        store = open_store(store_location)
        db = OutcomeDb(store, open_ledger(store), OutcomeLog(store, config))
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.log.close()
        db.ledger.close()
        db.store.close()
