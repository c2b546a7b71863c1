"""A ``too_many`` feedback reason halves the weekly cap for ``frequency.too_many_days``, on both
store backends, derived from the stored event (so a restarted or second ledger sees it too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from recsvc.errors import InvalidArgument
from recsvc.frequency import open_ledger
from recsvc.frequency.caps import DERIVING_EVENT_TYPES, Refusal, Reservation
from recsvc.frequency.config import FrequencyConfig
from recsvc.store import open_store
from recsvc.vocabulary import EngagementTier

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _feedback(eid: str, user: str, at: datetime, payload: dict[str, object]) -> dict[str, object]:
    return {
        "event_id": eid,
        "user_id": user,
        "ts": at.timestamp(),
        "event_type": "feedback",
        "payload": json.dumps(payload),
    }


def _booked_in_a_week(ledger: object, user: str, start: datetime) -> int:
    """How many sends a HIGH user gets booked, one every 12 hours over 7 days (daily cap 3 never binds)."""
    got = 0
    for i in range(14):
        out = ledger.reserve(
            user, "app_push", EngagementTier.HIGH, start + timedelta(hours=12 * i), dedupe_key=f"{user}-{start:%j}-{i}"
        )  # type: ignore[attr-defined]
        got += isinstance(out, Reservation)
    return got


def test_too_many_halves_the_weekly_cap_on_every_ledger_and_expires(store_location: str) -> None:
    store = open_store(store_location)
    ledger = open_ledger(store, FrequencyConfig(too_many_days=10.0))
    store.add_events([_feedback("f1", "u", NOW - DAY, {"reasons": ["too_many"]})], derive=ledger.derive_from_events)
    store.add_events([_feedback("f2", "v", NOW - DAY, {"rating": 4})], derive=ledger.derive_from_events)
    assert _booked_in_a_week(ledger, "u", NOW) == 5  # HIGH weekly cap 10, halved
    assert _booked_in_a_week(ledger, "v", NOW) == 10  # a good rating changes nothing
    # Another process (or a restart) reads the same stored rows.
    other_store = open_store(store_location)
    other = open_ledger(other_store, FrequencyConfig(too_many_days=10.0))
    refusal = other.check("u", "app_push", EngagementTier.HIGH, NOW + 3 * DAY)
    assert isinstance(refusal, Refusal) and "weekly cap of 5" in refusal.reason
    # After too_many_days the full cap is back (the booked week is over by then too).
    later = NOW + 12 * DAY
    assert other.check("u", "app_push", EngagementTier.HIGH, later) is None
    assert _booked_in_a_week(other, "u", later) == 10
    other_store.close()
    store.close()


def test_replaying_too_many_with_a_low_rating_counts_each_once(store_location: str) -> None:
    store = open_store(store_location)
    ledger = open_ledger(store)
    derive = ledger.derive_from_events
    store.add_events([_feedback("f1", "u", NOW - DAY, {"rating": 1, "reasons": ["too_many"]})], derive=derive)
    store.replay_events(derive, after_seq=0, event_types=DERIVING_EVENT_TYPES)
    store.replay_events(derive, after_seq=0, event_types=DERIVING_EVENT_TYPES)
    # HIGH 10 -> halved 5 -> one negative rating (penalty 2) -> 3.
    assert _booked_in_a_week(ledger, "u", NOW) == 3
    store.close()


@pytest.mark.parametrize(("field", "value"), [("too_many_days", 0.0), ("too_many_cap_factor", 1.5)])
def test_bad_too_many_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(InvalidArgument) as err:
        FrequencyConfig(**{field: value}).validate()  # type: ignore[arg-type]
    assert err.value.field == field
