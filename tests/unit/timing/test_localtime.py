"""Users' clocks: local hours of instants across a DST change, and which users have a known zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from recsvc.timing.localtime import local_clock, user_zone_map


def test_local_clock_agrees_with_astimezone_with_and_without_a_dst_change() -> None:
    zone = ZoneInfo("America/New_York")
    # The first span crosses the spring-forward night of 2024-03-10; the second has one offset.
    for start in (datetime(2024, 3, 9, 12, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)):
        epochs = start.timestamp() + 3600.0 * np.arange(48)
        how, hod = local_clock(epochs, zone)
        want = [datetime.fromtimestamp(t, UTC).astimezone(zone) for t in epochs]
        assert hod.tolist() == [d.hour for d in want]
        assert how.tolist() == [d.weekday() * 24 + d.hour for d in want]
    how, hod = local_clock(np.zeros(0), zone)
    assert how.shape == hod.shape == (0,)


def test_user_zone_map_reads_the_zone_or_a_known_city_and_skips_the_rest() -> None:
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "timezone": ["Asia/Tokyo", None, "Mars/Base", None, None],
            "city": [None, "Berlin", None, "Atlantis", None],
        }
    )
    assert user_zone_map(users) == {"a": "Asia/Tokyo", "b": "Europe/Berlin"}
    assert user_zone_map(None) == {}
