"""A batch chunk's prefetched reads (:mod:`recsvc.engine.prefetch`) answer as each user's own reads do,
once each, on both store backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from recsvc.engine.history import HISTORY_LIMIT
from recsvc.engine.prefetch import FEEDBACK_LIMIT, ChunkReads, PrefetchedHistory
from recsvc.frequency import open_ledger
from recsvc.frequency.caps import CapLedger, Reservation
from recsvc.store import EventStore, open_store
from recsvc.vocabulary import EngagementTier

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
IDS = ["busy", "quiet", "row_only", "nobody", "busy"]


def _event(uid: str, n: int, etype: str, hours_ago: float, payload: object = None) -> dict[str, object]:
    return {
        "event_id": f"{uid}-{n}",
        "user_id": uid,
        "ts": (NOW - hours_ago * H).timestamp(),
        "event_type": etype,
        "item_id": f"i{n % 7}",
        "channel": "email" if n % 3 == 0 else None,
        "payload": json.dumps(payload) if payload is not None else None,
    }


@pytest.fixture
def opened(store_location: str) -> Iterator[tuple[CapLedger, EventStore]]:
    """Users with a long history (ties in time, feedback, an opt-out, dismissals, booked sends), a
    short one, a user row without events, and nobody."""
    store = open_store(store_location)
    ledger = open_ledger(store)
    for i in range(3):
        booked = ledger.reserve("busy", "app_push", EngagementTier.HIGH, NOW + (i - 1) * H, dedupe_key=f"k{i}")
        assert isinstance(booked, Reservation)
    rating = {"rating": 1, "reasons": ["too_many"]}
    events = [_event("busy", n, "view", n // 4) for n in range(HISTORY_LIMIT + 40)]
    events += [_event("busy", 1000 + n, "feedback", 2 + n // 2, rating) for n in range(FEEDBACK_LIMIT + 5)]
    events += [_event("busy", 2000, "push_dismissed", 3), _event("busy", 2001, "unsubscribe", 5)]
    events += [_event("quiet", n, "add_to_cart", 10 + n) for n in range(3)]
    store.add_events(events, derive=ledger.derive_from_events)
    store.upsert_users(pd.DataFrame([{"user_id": "row_only", "locale": "zh-CN"}, {"user_id": "busy"}]))
    yield ledger, store
    ledger.close()
    store.close()


def test_prefetched_reads_are_each_users_own_and_served_once(opened: tuple[CapLedger, EventStore]) -> None:
    ledger, store = opened
    reads = ChunkReads()
    reads.fill(ledger, store, IDS, NOW)
    history = PrefetchedHistory(store, reads)
    assert reads.take("busy", NOW - H) is None  # another time: read it then
    for uid in dict.fromkeys(IDS):
        assert reads.take(uid, NOW) == ledger.user_and_state(store, uid, NOW), uid
        assert reads.take(uid, NOW) is None  # served once
        assert reads.history_rows(uid, HISTORY_LIMIT - 1) is None  # another limit
        assert reads.history_rows(uid, HISTORY_LIMIT) == store.history_rows(uid, limit=HISTORY_LIMIT), uid
        assert reads.feedback_rows(uid, FEEDBACK_LIMIT) == store.feedback_rows(uid), uid
        # served already: the store's own read
        assert history.history_rows(uid, limit=HISTORY_LIMIT) == store.history_rows(uid, limit=HISTORY_LIMIT)
        assert history.feedback_rows(uid) == store.feedback_rows(uid)
    assert len(store.history_rows("busy", limit=HISTORY_LIMIT)) == HISTORY_LIMIT
    assert len(store.feedback_rows("busy")) == FEEDBACK_LIMIT
    assert ledger.user_and_state(store, "busy", NOW)[2].opted_out  # the cases are really there


def test_prefetched_history_serves_the_prefetch_first(opened: tuple[CapLedger, EventStore]) -> None:
    ledger, store = opened
    reads = ChunkReads()
    reads.fill(ledger, store, IDS, NOW)
    history = PrefetchedHistory(store, reads)
    assert history.history_rows("quiet", limit=HISTORY_LIMIT) == store.history_rows("quiet", limit=HISTORY_LIMIT)
    assert reads.history_rows("quiet", HISTORY_LIMIT) is None  # taken by the call above
    assert history.history_signature("busy") == store.history_signature("busy")


def test_a_prefetch_is_its_threads_own_and_cleared(opened: tuple[CapLedger, EventStore]) -> None:
    ledger, store = opened
    reads = ChunkReads()
    reads.fill(ledger, store, IDS, NOW)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(reads.take("busy", NOW)))
    thread.start()
    thread.join()
    assert seen == [None]
    reads.clear()
    assert reads.take("busy", NOW) is None and reads.history_rows("busy", HISTORY_LIMIT) is None


def test_a_chunk_is_five_statements_on_postgres(pg_url: str, statements: list[str]) -> None:
    store = open_store(pg_url)
    ledger = open_ledger(store)
    store.add_events([_event(f"u{n}", n, "view", 1) for n in range(50)])
    statements.clear()
    ChunkReads().fill(ledger, store, [f"u{n}" for n in range(600)], NOW)
    # users, signatures, cap states, history rows, feedback rows
    assert len(statements) == 5, statements
    store.close()
