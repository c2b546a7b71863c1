"""Lifecycle scores and engagement tiers of a batch of users, read straight from the store.

One code path serves every caller: the pass over all users when models load, ``ScoreUsers``, and
the refresh of one user whose events changed. So a refreshed score equals the batch score of the
same user (same events, all of them, same model, same cut-off): training reads every event too.
The events are read as plain rows and encoded into an :class:`EventLog` directly; a pandas events
frame per call would cost more than the features.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from recsvc.engine.models import ModelSet
from recsvc.engine.types import LifecycleView, ReasonView
from recsvc.frequency.config import FrequencyConfig
from recsvc.frequency.tiers import OPEN_EVENTS, PASSIVE_EVENTS
from recsvc.lifecycle.eventlog import EventLog
from recsvc.lifecycle.model import UserScore
from recsvc.store import EventStore
from recsvc.vocabulary import EVENT_TYPES, EngagementTier, stage_name, tier_name

_TIER_WINDOW_DAYS = 90.0
_DAY_S = 86400.0


def lifecycle_view(score: UserScore, horizon_days: int) -> LifecycleView:
    reasons = tuple(ReasonView(r.feature, r.text, float(r.contribution)) for r in score.reasons)
    return LifecycleView(
        current_stage=stage_name(score.rule_stage),
        predicted_stage=stage_name(score.predicted_stage),
        stage_probs={stage_name(s): float(p) for s, p in score.stage_probs.items()},
        churn_risk=float(score.churn_risk),
        horizon_days=horizon_days,
        churn_reasons=reasons,
    )


@dataclass(frozen=True)
class UserState:
    """A user's lifecycle score and engagement tier as of one cut-off."""

    lifecycle: LifecycleView
    tier: str
    known: bool  # had at least one event before the cut-off


def utc(t: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def score_users(
    store: EventStore,
    models: ModelSet,
    user_ids: Sequence[str],
    as_of: datetime,
    frequency: FrequencyConfig,
    *,
    reasons: bool = True,
) -> dict[str, UserState]:
    """Score ``user_ids`` from all their events before ``as_of`` (unknown users get the cold-start row).
    ``reasons=False``: no churn reasons (the same scores; their contributions cost about as much).

    Costs one indexed read of the users' events, so callers with many users pass them in chunks.
    ``reasons=False``: no churn reasons (for callers that never show them; the scores are the same).
    """
    cut = utc(as_of)
    cut_s = cut.value / 1e9
    ids = list(dict.fromkeys(user_ids))
    rows = store.lifecycle_rows(ids, before=cut_s)
    user, ts, etype, item, value, offset = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 6
    log = EventLog.from_columns(user, ts, etype, item_id=item, value=value, offset_min=offset)
    lc = models.lifecycle
    horizon = int(lc.horizon_days)
    out: dict[str, UserState] = {}
    codes = np.asarray(log.users.get_indexer(ids))
    known = [u for u, c in zip(ids, codes, strict=True) if c >= 0]
    if known:
        tiers = engagement_tiers(log, cut_s, frequency)
        scores = lc.score(lc.features(log, cut, users=known), reasons=reasons)
        for s, code in zip(scores, codes[codes >= 0], strict=True):
            tier = tier_name(int(tiers[code]))
            out[s.user_id] = UserState(lifecycle_view(s, horizon), tier, known=True)
    if len(known) < len(ids):
        # No events before the cut-off: the same cold-start features for everyone, so scored once.
        unknown = [u for u, c in zip(ids, codes, strict=True) if c < 0]
        (cold,) = lc.score(lc.features(log, cut, users=unknown[:1]), reasons=reasons)
        state = UserState(lifecycle_view(cold, horizon), tier_name(EngagementTier.DORMANT), known=False)
        out.update(dict.fromkeys(unknown, state))
    return out


def score_in_chunks(
    store: EventStore,
    models: ModelSet,
    user_ids: Sequence[str],
    as_of: datetime,
    frequency: FrequencyConfig,
    chunk_users: int,
) -> Iterator[dict[str, UserState]]:
    """:func:`score_users` over chunks of ``chunk_users`` users. Between chunks the thread sleeps for
    a moment, so per-user calls waiting for the GIL get it at once."""
    for lo in range(0, len(user_ids), chunk_users):
        if lo:
            time.sleep(0)
        yield score_users(store, models, user_ids[lo : lo + chunk_users], as_of, frequency)


def engagement_tiers(log: EventLog, cut_s: float, cfg: FrequencyConfig) -> np.ndarray:
    """The :class:`EngagementTier` value of every user of ``log`` (by code) as of unix time ``cut_s``.

    The rules of :func:`recsvc.frequency.tiers.compute_tiers` (a test holds the two equal), computed on
    the encoded log: the pandas version cost as much as the lifecycle features for a few thousand users.
    """
    n = len(log.users)
    tier = np.full(n, int(EngagementTier.DORMANT), dtype=np.int64)
    age = (cut_s - log.ts) / _DAY_S
    window = (log.ts < cut_s) & (age <= _TIER_WINDOW_DAYS)
    passive = np.isin(log.etype, [EVENT_TYPES.index(e) for e in PASSIVE_EVENTS])
    active = window & ~passive
    day = np.floor(log.ts / _DAY_S)

    def active_days(max_age: float) -> np.ndarray:
        m = active & (age <= max_age)
        u, d = log.user[m], day[m]
        # Rows are sorted by (user, time), so a (user, day) pair starts where either changes.
        first = np.r_[True, (u[1:] != u[:-1]) | (d[1:] != d[:-1])] if len(u) else np.zeros(0, dtype=bool)
        return np.bincount(u[first], minlength=n)

    d14, d30, d90 = active_days(14), active_days(30), active_days(_TIER_WINDOW_DAYS)
    recent = window & (age <= 30)
    delivered = np.bincount(log.user[recent & passive], minlength=n).astype(np.float64)
    opens = np.isin(log.etype, [EVENT_TYPES.index(e) for e in OPEN_EVENTS])
    opened = np.bincount(log.user[recent & opens], minlength=n).astype(np.float64)
    rate = np.minimum(np.where(delivered > 0, opened / np.maximum(delivered, 1.0), 0.0), 1.0)
    tier[d90 >= cfg.low_active_days_90] = int(EngagementTier.LOW)
    tier[d30 >= cfg.medium_active_days_30] = int(EngagementTier.MEDIUM)
    high = (d14 >= cfg.high_active_days_14) | (
        (d14 >= cfg.high_active_days_14_with_opens) & (delivered > 0) & (rate >= cfg.high_min_open_rate)
    )
    tier[high] = int(EngagementTier.HIGH)
    ignoring = (delivered >= cfg.ignored_pushes_demote) & (rate < cfg.ignored_open_rate)
    tier[ignoring] = np.minimum(tier[ignoring] + 1, int(EngagementTier.DORMANT))
    return tier
