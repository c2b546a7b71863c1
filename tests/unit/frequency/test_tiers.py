from __future__ import annotations

import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.frequency.tiers import compute_tiers, user_tier
from recsvc.vocabulary import EngagementTier

NOW = pd.Timestamp("2024-06-30", tz="UTC")


def _events() -> pd.DataFrame:
    rows = []
    for d in range(1, 10):  # active 9 of the last 14 days
        rows.append(("high", NOW - pd.Timedelta(days=d), "app_open"))
    for d in (3, 20):  # two active days this month
        rows.append(("medium", NOW - pd.Timedelta(days=d), "view"))
    rows.append(("low", NOW - pd.Timedelta(days=60), "purchase"))
    rows.append(("dormant", NOW - pd.Timedelta(days=200), "app_open"))
    for d in range(2, 8):  # two active days + opens 3 of 6 pushes -> HIGH
        rows.append(("opener", NOW - pd.Timedelta(days=d, hours=1), "push_delivered"))
    for d in (2, 3, 4):
        rows.append(("opener", NOW - pd.Timedelta(days=d), "push_opened"))
    for d in range(1, 15):  # active but ignores 14 pushes -> demoted from HIGH to MEDIUM
        rows.append(("ignorer", NOW - pd.Timedelta(days=d), "app_open"))
        rows.append(("ignorer", NOW - pd.Timedelta(days=d, hours=2), "push_delivered"))
    rows.append(("future", NOW + pd.Timedelta(days=1), "app_open"))
    df = pd.DataFrame(rows, columns=["user_id", "ts", "event_type"])
    df["ts"] = df["ts"].map(lambda t: t.isoformat())
    return normalize_events(df)


def test_compute_tiers() -> None:
    tiers = compute_tiers(_events(), NOW, user_ids=["ghost"])
    assert tiers["high"] == EngagementTier.HIGH
    assert tiers["medium"] == EngagementTier.MEDIUM
    assert tiers["low"] == EngagementTier.LOW
    assert tiers["dormant"] == EngagementTier.DORMANT
    assert tiers["opener"] == EngagementTier.HIGH
    assert tiers["ignorer"] == EngagementTier.MEDIUM
    assert tiers["future"] == EngagementTier.DORMANT  # events after `now` are not seen
    assert tiers["ghost"] == EngagementTier.DORMANT


def test_user_tier_matches_vectorized() -> None:
    ev = _events()
    tiers = compute_tiers(ev, NOW)
    for uid in ("high", "medium", "low", "opener", "ignorer"):
        assert user_tier(ev[ev["user_id"] == uid], NOW) == tiers[uid]
    assert user_tier(ev.iloc[:0], NOW) == EngagementTier.DORMANT
