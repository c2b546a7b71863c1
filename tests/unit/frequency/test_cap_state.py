"""``CapLedger.cap_state`` + ``verdict``: the one read ``Recommend`` makes of a user's opt-outs and cap
facts (one statement on PostgreSQL) answers exactly as the separate reads do, on both store backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from recsvc.frequency import open_ledger
from recsvc.frequency.caps import CapLedger, Refusal, Reservation
from recsvc.store import EventStore, open_store
from recsvc.vocabulary import CHANNELS, EngagementTier

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
HIGH, MEDIUM, LOW, DORMANT = EngagementTier.HIGH, EngagementTier.MEDIUM, EngagementTier.LOW, EngagementTier.DORMANT

Setup = Callable[[CapLedger, EventStore, str], None]


def _no_sends(ledger: CapLedger, store: EventStore, uid: str) -> None:
    """Nothing stored for the user."""


def _one_channel(ledger: CapLedger, store: EventStore, uid: str) -> None:
    ledger.unsubscribe(uid, "email", NOW - H)


def _all_channels(ledger: CapLedger, store: EventStore, uid: str) -> None:
    ledger.unsubscribe(uid, "sms", NOW - 2 * H)
    ledger.unsubscribe(uid, "*", NOW - H)


def _resubscribed(ledger: CapLedger, store: EventStore, uid: str) -> None:
    ledger.unsubscribe(uid, "email", NOW - 3 * H)
    ledger.unsubscribe(uid, "sms", NOW - 3 * H)
    ledger.resubscribe(uid, "email", NOW - 2 * H)


def _resubscribed_all(ledger: CapLedger, store: EventStore, uid: str) -> None:
    ledger.unsubscribe(uid, "*", NOW - 3 * H)
    ledger.resubscribe(uid, "*", NOW - 2 * H)


def _book(ledger: CapLedger, uid: str, tier: EngagementTier, *offsets: timedelta) -> None:
    for i, off in enumerate(offsets):
        assert isinstance(ledger.reserve(uid, "app_push", tier, NOW + off, dedupe_key=f"{uid}-{i}"), Reservation)


def _cap_reached(ledger: CapLedger, store: EventStore, uid: str) -> None:
    # Two sends in the last 3 hours and one booked 23 h ahead: MEDIUM's daily cap (2) is reached, HIGH's (3) not.
    _book(ledger, uid, HIGH, -3 * H, -2 * H, 23 * H)


def _key_moment(ledger: CapLedger, store: EventStore, uid: str) -> None:
    # Penalties 3 x 1 + 2 silence LOW's weekly cap (3); a key moment keeps the floor (1).
    for _ in range(3):
        ledger.record_dismissal(uid, NOW - D)
    ledger.record_negative_feedback(uid, NOW - D)


def _too_many(ledger: CapLedger, store: EventStore, uid: str) -> None:
    # HIGH weekly 10, halved by "too many" -> 5, less a low rating's 2 -> 3; three sends fill it.
    event = {
        "event_id": f"{uid}-f1",
        "user_id": uid,
        "ts": (NOW - 4 * D).timestamp(),
        "event_type": "feedback",
        "payload": json.dumps({"rating": 1, "reasons": ["too_many"]}),
    }
    store.add_events([event], derive=ledger.derive_from_events)
    _book(ledger, uid, HIGH, -3 * D, -2 * D, -D)


# scenario -> (setup, opted-out channels, spot checks {(channel, tier, key_moment): refusal code or None})
SCENARIOS: dict[str, tuple[Setup, set[str], dict[tuple[str, EngagementTier, bool], str | None]]] = {
    "no_sends": (
        _no_sends,
        set(),
        {
            ("app_push", HIGH, False): None,
            ("email", LOW, False): None,
            ("sms", DORMANT, False): "DORMANT_KEY_MOMENTS_ONLY",
        },
    ),
    "opted_out_of_one": (
        _one_channel,
        {"email"},
        {
            ("email", HIGH, False): "UNSUBSCRIBED",
            ("email", HIGH, True): "UNSUBSCRIBED",
            ("app_push", HIGH, False): None,
        },
    ),
    "opted_out_of_all": (
        _all_channels,
        set(CHANNELS),
        {(ch, HIGH, km): "UNSUBSCRIBED" for ch in CHANNELS for km in (False, True)},
    ),
    "resubscribed_one": (
        _resubscribed,
        {"sms"},
        {("email", HIGH, False): None, ("sms", HIGH, False): "UNSUBSCRIBED"},
    ),
    "resubscribed_all": (_resubscribed_all, set(), {(ch, HIGH, False): None for ch in CHANNELS}),
    "cap_reached": (
        _cap_reached,
        set(),
        {
            ("app_push", MEDIUM, False): "DAILY_CAP",
            ("in_app", MEDIUM, True): "DAILY_CAP",
            ("app_push", HIGH, False): None,
        },
    ),
    "key_moment": (
        _key_moment,
        set(),
        {
            ("app_push", LOW, False): "WEEKLY_CAP",
            ("app_push", LOW, True): None,
            ("app_push", DORMANT, True): None,
            ("app_push", DORMANT, False): "DORMANT_KEY_MOMENTS_ONLY",
        },
    ),
    "too_many": (_too_many, set(), {("app_push", HIGH, False): "WEEKLY_CAP", ("app_push", HIGH, True): "WEEKLY_CAP"}),
}


@pytest.fixture
def opened() -> Iterator[Callable[[str], tuple[CapLedger, EventStore]]]:
    handles: list[tuple[CapLedger, EventStore]] = []

    def make(location: str) -> tuple[CapLedger, EventStore]:
        store = open_store(location)
        handles.append((open_ledger(store), store))
        return handles[-1]

    yield make
    for ledger, store in handles:
        ledger.close()
        store.close()


def _code(out: Refusal | None) -> str | None:
    return None if out is None else out.code


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_one_read_answers_as_the_separate_reads(
    scenario: str, store_location: str, opened: Callable[[str], tuple[CapLedger, EventStore]]
) -> None:
    setup, opted_out, spots = SCENARIOS[scenario]
    ledger, store = opened(store_location)
    setup(ledger, store, "u")
    state = ledger.cap_state("u", NOW)
    assert state.unsubscribed_channels() == ledger.unsubscribed_channels("u") == opted_out
    for ch in CHANNELS:
        assert state.facts(ch).unsubscribed == ledger.is_unsubscribed("u", ch) == (ch in opted_out)
    for (ch, tier, km), code in spots.items():
        assert _code(ledger.verdict(state, ch, tier, key_moment=km)) == code, (ch, tier, km)
    probe = 0
    for ch in CHANNELS:
        for tier in EngagementTier:
            for km in (False, True):
                verdict = ledger.verdict(state, ch, tier, key_moment=km)
                assert verdict == ledger.check("u", ch, tier, NOW, key_moment=km), (ch, tier, km)
                # The booking's own decision (on PostgreSQL a statement of its own) agrees too.
                probe += 1
                out = ledger.reserve("u", ch, tier, NOW, dedupe_key=f"probe-{probe}", key_moment=km)
                if verdict is None:
                    assert isinstance(out, Reservation), (ch, tier, km, out)
                    assert ledger.release(out)
                else:
                    assert out == verdict, (ch, tier, km)


def test_both_stores_read_the_same_state(
    tmp_path: Path, pg_url: str, opened: Callable[[str], tuple[CapLedger, EventStore]]
) -> None:
    lite, pg = opened(str(tmp_path / "db.sqlite")), opened(pg_url)
    for name, (setup, _, _) in SCENARIOS.items():
        for ledger, store in (lite, pg):
            setup(ledger, store, name)
        for now in (NOW, NOW - 2 * D, NOW + 8 * D):
            assert lite[0].cap_state(name, now) == pg[0].cap_state(name, now), (name, now)


def test_opt_outs_every_channels_verdict_and_the_user_cost_one_round_trip_on_postgres(
    pg_url: str, opened: Callable[[str], tuple[CapLedger, EventStore]], statements: list[str]
) -> None:
    ledger, store = opened(pg_url)
    _cap_reached(ledger, store, "u")
    _one_channel(ledger, store, "u")
    statements.clear()
    state = ledger.cap_state("u", NOW)
    assert state.unsubscribed_channels() == {"email"}
    verdicts = {ch: _code(ledger.verdict(state, ch, MEDIUM)) for ch in CHANNELS}
    assert verdicts == {"app_push": "DAILY_CAP", "sms": "DAILY_CAP", "email": "UNSUBSCRIBED", "in_app": "DAILY_CAP"}
    assert len(statements) == 1, statements
    # The user's row and history signature come with the same statement.
    statements.clear()
    found, sig, again = ledger.user_and_state(store, "u", NOW)
    assert found is None and sig == (0, 0.0) and again == state
    assert len(statements) == 1, statements


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_user_and_its_cap_state_are_the_separate_reads(
    scenario: str, store_location: str, opened: Callable[[str], tuple[CapLedger, EventStore]]
) -> None:
    setup, _, _ = SCENARIOS[scenario]
    ledger, store = opened(store_location)
    store.upsert_users(pd.DataFrame([{"user_id": "u", "timezone": "Asia/Shanghai", "locale": "zh-CN"}]))
    store.add_events([{"event_id": "u-v1", "user_id": "u", "ts": (NOW - D).timestamp(), "event_type": "view"}])
    setup(ledger, store, "u")
    for uid in ("u", "nobody"):
        for now in (NOW, NOW - 2 * D, NOW + 8 * D):
            found, sig, state = ledger.user_and_state(store, uid, now)
            assert (found, sig) == store.user_and_signature(uid), (uid, now)
            assert state == ledger.cap_state(uid, now), (uid, now)
    assert ledger.user_and_state(store, "u", NOW)[0]["locale"] == "zh-CN"  # type: ignore[index]
    assert ledger.user_and_state(store, "u", NOW)[1][0] >= 1  # the view, and the feedback event of one scenario


@pytest.mark.parametrize("now", [NOW, NOW - 2 * D, NOW + 8 * D])
def test_states_read_together_are_each_users_own(
    now: datetime, store_location: str, opened: Callable[[str], tuple[CapLedger, EventStore]]
) -> None:
    ledger, store = opened(store_location)
    store.upsert_users(pd.DataFrame([{"user_id": "no_sends", "timezone": "Asia/Shanghai", "locale": "zh-CN"}]))
    for name, (setup, _, _) in SCENARIOS.items():
        setup(ledger, store, name)
    # every scenario's user (opt-outs, feedback, sends), a user with nothing stored, and a repeat
    ids = [*SCENARIOS, "nobody", "cap_reached"]
    together = ledger.users_and_states(store, ids, now)
    assert list(together) == list(dict.fromkeys(ids))
    for uid in ids:
        assert together[uid] == ledger.user_and_state(store, uid, now), uid
    assert ledger.cap_states(ids, now) == {u: s for u, (_, _, s) in together.items()}
    assert ledger.users_and_states(store, [], now) == {}


def test_states_of_many_users_cost_three_round_trips_on_postgres(
    pg_url: str, opened: Callable[[str], tuple[CapLedger, EventStore]], statements: list[str]
) -> None:
    ledger, store = opened(pg_url)
    for name, (setup, _, _) in SCENARIOS.items():
        setup(ledger, store, name)
    statements.clear()
    ledger.cap_states([f"u{i}" for i in range(600)], NOW)
    assert len(statements) == 1, statements
    statements.clear()
    ledger.users_and_states(store, [*SCENARIOS, *(f"u{i}" for i in range(600))], NOW)
    assert len(statements) == 3, statements  # the users, their signatures, their cap states
