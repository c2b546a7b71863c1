from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recsvc.errors import InvalidArgument
from recsvc.frequency.caps import CapLedger, Refusal, Reservation
from recsvc.frequency.config import FrequencyConfig
from recsvc.vocabulary import EngagementTier
from tests.unit.frequency.conftest import LedgerFactory

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


_WORKER = """
import sys
from datetime import UTC, datetime, timedelta
from recsvc.frequency.caps import CapLedger, Reservation
from recsvc.vocabulary import EngagementTier
db, worker = sys.argv[1], sys.argv[2]
now = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
ledger = CapLedger(db)
granted = 0
for i in range(250):
    out = ledger.reserve("hot-user", "app_push", EngagementTier.LOW, now + timedelta(seconds=i),
                         dedupe_key=f"w{worker}-{i}", key_moment=True)
    granted += isinstance(out, Reservation)
print(granted)
"""


def test_low_tier_cap_never_exceeded_by_concurrent_processes(tmp_path: Path) -> None:
    """4 separate processes x 250 reserve calls on one SQLite file: the LOW daily cap (1) holds."""
    db = str(tmp_path / "caps.sqlite")
    CapLedger(db).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, db, str(w)], stdout=subprocess.PIPE, env=env, text=True)
        for w in range(4)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    granted = sum(int(o.strip()) for o in outs)
    ledger = CapLedger(db)
    sends = ledger.sends_for("hot-user", NOW - timedelta(days=1))
    assert granted == len(sends) == FrequencyConfig().daily_cap(EngagementTier.LOW) == 1


def test_daily_weekly_caps_release_and_dedupe(ledgers: LedgerFactory) -> None:
    ledger = ledgers()
    t = NOW
    got = [
        ledger.reserve("u", "app_push", EngagementTier.MEDIUM, t + timedelta(hours=h), dedupe_key=f"k{h}")
        for h in range(3)
    ]
    assert isinstance(got[0], Reservation) and isinstance(got[1], Reservation)
    assert isinstance(got[2], Refusal) and got[2].code == "DAILY_CAP"
    assert "daily cap of 2 for MEDIUM tier" in got[2].reason
    again = ledger.reserve("u", "app_push", EngagementTier.MEDIUM, t, dedupe_key="k0")
    assert isinstance(again, Reservation) and again.duplicate and again.id == got[0].id
    assert ledger.release(got[1]) and not ledger.release(got[1])
    assert isinstance(
        ledger.reserve("u", "email", EngagementTier.MEDIUM, t + timedelta(hours=3), dedupe_key="k3"),
        Reservation,
    )
    # Weekly cap of 6 over several days.
    n_ok = sum(
        isinstance(
            ledger.reserve("u", "app_push", EngagementTier.MEDIUM, t + timedelta(days=d), dedupe_key=f"d{d}"),
            Reservation,
        )
        for d in range(1, 7)
    )
    week = ledger.sends_for("u", t - timedelta(seconds=1))
    assert n_ok == 4 and len(week) == 6
    refused = ledger.reserve("u", "app_push", EngagementTier.MEDIUM, t + timedelta(days=6, hours=12), dedupe_key="x")
    assert isinstance(refused, Refusal) and refused.code == "WEEKLY_CAP"


def test_dormant_gets_key_moments_only(ledgers: LedgerFactory) -> None:
    ledger = ledgers()
    r = ledger.reserve("d", "app_push", EngagementTier.DORMANT, NOW, dedupe_key="campaign")
    assert isinstance(r, Refusal) and r.code == "DORMANT_KEY_MOMENTS_ONLY"
    assert isinstance(
        ledger.reserve("d", "app_push", EngagementTier.DORMANT, NOW, dedupe_key="cart", key_moment=True),
        Reservation,
    )
    second = ledger.reserve(
        "d", "app_push", EngagementTier.DORMANT, NOW + timedelta(days=2), dedupe_key="cart2", key_moment=True
    )
    assert isinstance(second, Refusal) and second.code == "WEEKLY_CAP"


def test_dismissals_lower_the_weekly_cap(ledgers: LedgerFactory) -> None:
    ledger = ledgers()
    for i in range(9):
        ledger.record_dismissal("h", NOW - timedelta(hours=i + 1))
    # HIGH: 10/week - 9 dismissals = 1.
    first = ledger.reserve("h", "app_push", EngagementTier.HIGH, NOW, dedupe_key="a")
    second = ledger.reserve("h", "app_push", EngagementTier.HIGH, NOW + timedelta(minutes=1), dedupe_key="b")
    assert isinstance(first, Reservation)
    assert isinstance(second, Refusal) and "weekly cap of 1 for HIGH" in second.reason
    ledger.record_negative_feedback("h", NOW)
    third = ledger.reserve("h2", "app_push", EngagementTier.HIGH, NOW, dedupe_key="c")
    assert isinstance(third, Reservation)  # other users unaffected


def test_unsubscribe_honoured_on_next_call_across_ledgers(ledgers: LedgerFactory) -> None:
    a, b = ledgers(), ledgers()
    assert isinstance(a.reserve("u", "sms", EngagementTier.HIGH, NOW, dedupe_key="1"), Reservation)
    b.unsubscribe("u", "sms", NOW)
    assert a.is_unsubscribed("u", "sms") and not a.is_unsubscribed("u", "email")
    r = a.reserve("u", "sms", EngagementTier.HIGH, NOW + timedelta(minutes=1), dedupe_key="2")
    assert isinstance(r, Refusal) and r.code == "UNSUBSCRIBED"
    assert isinstance(a.reserve("u", "email", EngagementTier.HIGH, NOW, dedupe_key="3"), Reservation)
    b.unsubscribe("u", "*")
    assert a.unsubscribed_channels("u") == {"app_push", "sms", "email", "in_app"}
    b.resubscribe("u")
    assert not a.is_unsubscribed("u", "sms")
    with pytest.raises(InvalidArgument) as err:
        a.unsubscribe("u", "pigeon")
    assert err.value.field == "channel"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("daily_caps", (3, 2, -1, 1)),
        ("weekly_caps", (10, 6, 3)),
        ("dismissal_penalty", -1.0),
        ("channel_costs", (("fax", 1.0),)),
    ],
)
def test_bad_config_names_field(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        replace(FrequencyConfig(), **{field: value}).validate()
    assert err.value.field == field


def _max_in_any_window(stamps: list[float], window: float) -> int:
    """Brute force: the most stamps in any window ``(t - window, t]`` (a fullest one ends at a stamp)."""
    return max((sum(1 for s in stamps if t - window < s <= t) for t in stamps), default=0)


def _booked(ledger: CapLedger, user: str) -> list[float]:
    return [r.at_utc.timestamp() for r in ledger.sends_for(user, NOW - timedelta(days=365))]


def test_requests_arriving_latest_first_still_book_only_the_cap(ledgers: LedgerFactory) -> None:
    """Ten requests whose ``now`` steps back one second each: a send booked for a later time counts."""
    ledger = ledgers()
    got = [
        ledger.reserve("u", "app_push", EngagementTier.HIGH, NOW - timedelta(seconds=i), dedupe_key=f"k{i}")
        for i in range(10)
    ]
    cap = FrequencyConfig().daily_cap(EngagementTier.HIGH)
    assert sum(isinstance(g, Reservation) for g in got) == cap == len(_booked(ledger, "u"))
    refused = [g for g in got if isinstance(g, Refusal)]
    assert all(r.code == "DAILY_CAP" and "booked after this request's time" in r.reason for r in refused)


@pytest.mark.parametrize(("tier", "span_days"), [(EngagementTier.HIGH, 2.0), (EngagementTier.MEDIUM, 21.0)])
def test_rolling_windows_hold_whatever_the_arrival_order(
    ledgers: LedgerFactory, tier: EngagementTier, span_days: float
) -> None:
    """Many ``now``s in random order: no 24 h and no 7-day window ever holds more sends than the caps."""
    import random

    rng = random.Random(11)
    ledger = ledgers()
    cfg = FrequencyConfig()
    for i in range(300):
        at = NOW + timedelta(seconds=rng.uniform(0, span_days * 86400))
        ledger.reserve("u", "app_push", tier, at, dedupe_key=f"k{i}")
    stamps = _booked(ledger, "u")
    assert _max_in_any_window(stamps, 86400.0) == cfg.daily_cap(tier)
    assert _max_in_any_window(stamps, 7 * 86400.0) <= cfg.weekly_cap(tier)
    if span_days > 14:
        assert _max_in_any_window(stamps, 7 * 86400.0) == cfg.weekly_cap(tier)


def test_retry_after_is_the_first_moment_a_send_fits(ledgers: LedgerFactory) -> None:
    """Sends booked ahead of a request push its ``retry_after`` to when they leave the window."""
    ledger = ledgers()
    for h in range(3):
        assert isinstance(
            ledger.reserve("u", "app_push", EngagementTier.HIGH, NOW + timedelta(hours=h), dedupe_key=f"k{h}"),
            Reservation,
        )
    early = NOW - timedelta(hours=1)
    preview = ledger.check("u", "app_push", EngagementTier.HIGH, early)
    refused = ledger.reserve("u", "app_push", EngagementTier.HIGH, early, dedupe_key="early")
    assert isinstance(refused, Refusal) and refused.code == "DAILY_CAP"
    assert preview == refused  # check() previews with the same rule
    assert refused.retry_after_utc == NOW + timedelta(days=1)
    just_before = ledger.reserve(
        "u", "app_push", EngagementTier.HIGH, refused.retry_after_utc - timedelta(seconds=1), dedupe_key="b"
    )
    assert isinstance(just_before, Refusal)
    assert isinstance(
        ledger.reserve("u", "app_push", EngagementTier.HIGH, refused.retry_after_utc, dedupe_key="c"), Reservation
    )


# Run in each spawned process with ``exec`` (a builtin, so spawn can pickle it; this test module is not
# importable by name in the child): its own ledger, threads reserving for one user at the given times.
_RESERVER = """
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from recsvc.frequency import open_ledger
from recsvc.store import open_store
from recsvc.vocabulary import EngagementTier

def _reserve(location, worker, stamps, threads):
    store = open_store(location)
    ledger = open_ledger(store)

    def one(i):
        at = datetime.fromtimestamp(stamps[i], UTC)
        ledger.reserve("hot", "app_push", EngagementTier.HIGH, at, dedupe_key=f"w{worker}-{i}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(stamps))))
    ledger.close()
    store.close()
"""


def test_four_processes_with_jittered_now_never_exceed_the_daily_cap(
    store_location: str, ledgers: LedgerFactory
) -> None:
    """1,000 reservations for one user from 4 spawned processes (4 threads each), ``now`` jittered over
    five minutes in random order: every 24 h window holds at most the daily cap (on PostgreSQL, the
    processes stand for hosts sharing the database)."""
    import multiprocessing
    import random

    db = store_location
    ledger = ledgers()  # creates the tables before the processes race
    rng = random.Random(5)
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for w in range(4):
        stamps = [NOW.timestamp() + rng.uniform(0, 300) for _ in range(250)]
        src = f"{_RESERVER}\n_reserve({db!r}, {w}, {stamps!r}, 4)\n"
        procs.append(ctx.Process(target=exec, args=(src, {"__name__": f"reserver{w}"})))
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    stamps = _booked(ledger, "hot")
    cap = FrequencyConfig().daily_cap(EngagementTier.HIGH)
    assert len(stamps) == cap and _max_in_any_window(stamps, 86400.0) <= cap


def test_replayed_unsubscribe_does_not_undo_a_later_resubscription(store_location: str) -> None:
    from recsvc.frequency import open_ledger
    from recsvc.frequency.caps import DERIVING_EVENT_TYPES
    from recsvc.store import open_store

    store = open_store(store_location)
    ledger = open_ledger(store)
    derive = ledger.derive_from_events

    def unsub(eid: str, at: datetime) -> None:
        row = {"event_id": eid, "user_id": "u", "ts": at.timestamp(), "event_type": "unsubscribe", "channel": "email"}
        store.add_events([row], derive=derive)

    unsub("e1", NOW)
    assert ledger.unsubscribed_channels("u") == {"email"}
    ledger.resubscribe("u", at_utc=NOW + timedelta(minutes=1))
    store.replay_events(derive, after_seq=0, event_types=DERIVING_EVENT_TYPES)
    assert ledger.unsubscribed_channels("u") == set()
    unsub("e2", NOW + timedelta(minutes=2))  # a newer unsubscribe counts again
    store.replay_events(derive, after_seq=0, event_types=DERIVING_EVENT_TYPES)
    assert ledger.unsubscribed_channels("u") == {"email"}


def test_acknowledged_writes_are_synced_to_disk(tmp_path: Path) -> None:
    """Reservations and opt-outs sync every commit (synchronous=FULL, as the event store does): with WAL
    and NORMAL an acknowledged write may be lost in a power cut."""
    full = 2
    with CapLedger(tmp_path / "c.sqlite") as ledger:
        assert ledger._conn.execute("PRAGMA synchronous").fetchone()[0] == full
