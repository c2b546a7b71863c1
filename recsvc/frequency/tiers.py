"""Engagement tiers: how often a user may hear from us depends on how engaged they are.

HIGH: active on many recent days (or fewer days but opening pushes); MEDIUM: active on a couple of
days this month; LOW: seen in the last 90 days; DORMANT: not seen for 90 days. A user who keeps
ignoring pushes (many delivered, almost none opened in 30 days) drops one tier.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd

from recsvc.frequency.config import FrequencyConfig
from recsvc.vocabulary import EngagementTier

logger = logging.getLogger(__name__)

# Events that show the user acting (not us sending).
PASSIVE_EVENTS: frozenset[str] = frozenset({"push_delivered"})
OPEN_EVENTS: frozenset[str] = frozenset({"push_opened", "push_clicked"})


def _ts(now: datetime | pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(now)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def compute_tiers(
    events: pd.DataFrame,
    now: datetime | pd.Timestamp,
    config: FrequencyConfig | None = None,
    user_ids: list[str] | None = None,
) -> pd.Series:
    """Tier of every user in ``events`` (plus ``user_ids``, DORMANT if unseen), from events before ``now``."""
    cfg = config or FrequencyConfig()
    t_now = _ts(now)
    ev = events[(events["ts"] < t_now) & (events["ts"] >= t_now - pd.Timedelta(days=90))]
    all_users = pd.Index(sorted(set(events["user_id"].astype(str)) | set(user_ids or [])))
    active = ev[~ev["event_type"].isin(PASSIVE_EVENTS)]
    day = active["ts"].dt.floor("D")
    age = (t_now - active["ts"]).dt.total_seconds() / 86400.0
    frame = pd.DataFrame({"user_id": active["user_id"].astype(str), "day": day, "age": age})

    def active_days(max_age: float) -> pd.Series:
        sub = frame[frame["age"] <= max_age]
        return sub.groupby("user_id")["day"].nunique().reindex(all_users, fill_value=0)

    d14, d30, d90 = active_days(14), active_days(30), active_days(90)
    recent = ev[(t_now - ev["ts"]) <= pd.Timedelta(days=30)]
    r_uid = recent["user_id"].astype(str)
    delivered = (recent["event_type"] == "push_delivered").groupby(r_uid).sum().reindex(all_users, fill_value=0)
    opened = recent["event_type"].isin(OPEN_EVENTS).groupby(r_uid).sum().reindex(all_users, fill_value=0)
    rate = (opened / delivered.where(delivered > 0)).fillna(0.0).clip(upper=1.0)
    tier = np.full(len(all_users), int(EngagementTier.DORMANT), dtype=np.int64)
    tier[(d90 >= cfg.low_active_days_90).to_numpy()] = int(EngagementTier.LOW)
    tier[(d30 >= cfg.medium_active_days_30).to_numpy()] = int(EngagementTier.MEDIUM)
    high = (d14 >= cfg.high_active_days_14) | (
        (d14 >= cfg.high_active_days_14_with_opens) & (delivered > 0) & (rate >= cfg.high_min_open_rate)
    )
    tier[high.to_numpy()] = int(EngagementTier.HIGH)
    ignoring = ((delivered >= cfg.ignored_pushes_demote) & (rate < cfg.ignored_open_rate)).to_numpy()
    tier[ignoring] = np.minimum(tier[ignoring] + 1, int(EngagementTier.DORMANT))
    return pd.Series(tier, index=all_users, name="tier")


def user_tier(
    user_events: pd.DataFrame, now: datetime | pd.Timestamp, config: FrequencyConfig | None = None
) -> EngagementTier:
    """Tier of one user from their own recent events (any user_id values are treated as that user)."""
    if user_events.empty:
        return EngagementTier.DORMANT
    ev = user_events.assign(user_id="u")
    return EngagementTier(int(compute_tiers(ev, now, config).get("u", int(EngagementTier.DORMANT))))
