"""Send slots: the same local habit gives the same local hour in any zone; quiet hours never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from recsvc.timing.clock import QuietHours
from recsvc.timing.sendtime import SendTimeModel
from tests.unit.timing.conftest import ZONES


def test_same_local_habit_same_local_slot_across_zones(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    # u0 is in Shanghai, u1 in New York; find a pair with the same habit hour.
    sh = next(u for u in habit if int(u[1:]) % 3 == 0 and habit[u] == 19)
    ny = next(u for u in habit if int(u[1:]) % 3 == 1 and habit[u] == 19)
    now = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
    quiet = QuietHours.parse("22-8")
    a = model.best_slot(sh, now_utc=now, tz="Asia/Shanghai", quiet=quiet, window_end_utc=now + timedelta(hours=48))
    b = model.best_slot(ny, now_utc=now, tz="America/New_York", quiet=quiet, window_end_utc=now + timedelta(hours=48))
    assert a is not None and b is not None
    assert a.local_hour == b.local_hour == 19
    assert a.send_at_utc != b.send_at_utc
    assert 0 < a.confidence <= 1


def test_no_slot_ever_in_quiet_hours(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    rng = np.random.default_rng(1)
    ids = [*habit, "never-seen"]
    zones = [*ZONES, "Asia/Kolkata", "UTC", "Australia/Sydney"]
    for _ in range(300):
        uid = ids[int(rng.integers(len(ids)))]
        zone = zones[int(rng.integers(len(zones)))]
        start, end = sorted(rng.choice(24, 2, replace=False).tolist())
        quiet = QuietHours(int(end), int(start)) if rng.random() < 0.5 else QuietHours(int(start), int(end))
        now = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 60 * 24 * 30)))
        window = timedelta(minutes=int(rng.integers(5, 60 * 30)))
        mode = "defer" if rng.random() < 0.5 else "suppress"
        slot = model.best_slot(uid, now_utc=now, tz=zone, quiet=quiet, window_end_utc=now + window, on_all_quiet=mode)
        if slot is None:
            assert mode == "suppress"
            continue
        assert not quiet.contains(slot.send_at_utc.astimezone(ZoneInfo(zone)))
        if not slot.deferred:
            assert now <= slot.send_at_utc <= now + window
        else:
            assert slot.send_at_utc >= now + window
