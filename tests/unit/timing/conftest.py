"""Shared data of the send-time tests: users in three zones with a personal local hour, and one
model fitted on them (read-only for the tests that share it)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from recsvc.data.io import normalize_events, normalize_users
from recsvc.timing.config import TimingConfig
from recsvc.timing.sendtime import SendTimeModel

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")


def habit_data(n_users: int = 90, days: int = 70, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Users in three zones who open the app (and pushes) around a personal local hour."""
    rng = np.random.default_rng(seed)
    rows = []
    habit: dict[str, int] = {}
    users = []
    start = CUTOFF - pd.Timedelta(days=days)
    for u in range(n_users):
        uid = f"u{u}"
        zone = ZoneInfo(ZONES[u % 3])
        hour = int(rng.choice([8, 12, 19, 21]))
        habit[uid] = hour
        users.append({"user_id": uid, "timezone": zone.key})
        for d in range(days):
            if rng.random() > 0.35:
                continue
            local_day = (start + pd.Timedelta(days=d)).tz_convert(zone).normalize()
            h = hour if rng.random() < 0.8 else int(rng.integers(8, 23))
            ts = local_day + pd.Timedelta(hours=h, minutes=int(rng.integers(0, 60)))
            et = "push_opened" if rng.random() < 0.3 else "app_open"
            rows.append({"user_id": uid, "ts": ts.tz_convert("UTC").isoformat(), "event_type": et})
    return normalize_events(pd.DataFrame(rows)), normalize_users(pd.DataFrame(users)), habit


def random_hours_events(n_users: int, days_each: int, seed: int) -> pd.DataFrame:
    """Users active on ``days_each`` distinct days of the 119 before ``CUTOFF``, each time at an hour
    drawn afresh: their own past hours say nothing about the next one."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "user_id": f"u{u}",
            "ts": (CUTOFF - pd.Timedelta(days=int(d), hours=int(rng.integers(0, 24)))).isoformat(),
            "event_type": "app_open",
        }
        for u in range(n_users)
        for d in rng.choice(np.arange(1, 120), size=days_each, replace=False)
    ]
    return normalize_events(pd.DataFrame(rows))


FAST = TimingConfig(lgbm_rounds=30, pseudo_cutoffs=4, min_label_window_days=14.0, min_training_examples=50)


@pytest.fixture(scope="session")
def fitted() -> tuple[SendTimeModel, dict[str, int]]:
    events, users, habit = habit_data()
    return SendTimeModel.fit(events, users, cutoff=CUTOFF, config=FAST, progress=False), habit
