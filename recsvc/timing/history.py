"""Users' event histories reduced to what the send-time model reads.

An :class:`EventFrame` holds the events sorted by user then time, each with its local hour of week
and a weight (event type x session start); a :class:`UserState` holds per-user statistics as of
one instant, computed from the events strictly before it. The model is fitted on the state at the
cut-off, the next-visit learner on states at pseudo cut-offs stepped back from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsvc.timing.config import TimingConfig
from recsvc.timing.hours import HOURS_PER_WEEK
from recsvc.timing.localtime import local_times


@dataclass
class EventFrame:
    """Events reduced to what the model needs, sorted by user then time."""

    codes: np.ndarray  # user index
    how: np.ndarray
    secs: np.ndarray  # unix seconds
    weight: np.ndarray  # type weight x session weight
    session_start: np.ndarray  # bool
    offset: np.ndarray  # local offset minutes
    user_ids: list[str]


def recency_weight(asof: float, secs: np.ndarray, half_life_days: float) -> np.ndarray:
    """Weight of events at ``secs`` seen from ``asof``: halves every ``half_life_days``."""
    return np.power(0.5, (asof - secs) / 86400.0 / half_life_days)


def _session_starts(codes: np.ndarray, secs: np.ndarray, gap_min: float) -> np.ndarray:
    """Whether each event (sorted by user then time) opens a session: a user's first event, or one
    more than ``gap_min`` minutes after that user's previous event."""
    new_user = np.ones(len(codes), dtype=bool)
    new_user[1:] = codes[1:] != codes[:-1]
    gap = np.empty(len(codes))
    gap[0] = np.inf
    gap[1:] = secs[1:] - secs[:-1]
    return np.asarray(new_user | (gap > gap_min * 60.0))


def event_frame(
    events: pd.DataFrame,
    zones: Mapping[str, str],
    cfg: TimingConfig,
    user_ids: Sequence[str] | None = None,
    *,
    keep_zero: bool = False,
) -> EventFrame:
    """The events of ``user_ids`` (default: every user with a weighted event) as an EventFrame.

    Events whose type weighs zero (app-initiated, e.g. ``push_delivered``) are dropped unless
    ``keep_zero``: the habit curve ignores them, the learner's labels may count them.
    """
    ev = events[["user_id", "ts", "event_type"] + (["ts_offset_min"] if "ts_offset_min" in events.columns else [])]
    ev = ev.assign(user_id=ev["user_id"].astype(str))
    w_type = ev["event_type"].map(cfg.weight_of()).fillna(1.0).to_numpy(dtype=np.float64)
    keep = w_type > 0 if not keep_zero else np.ones(len(w_type), dtype=bool)
    ev = ev[keep]
    w_type = w_type[keep]
    if user_ids is None:
        user_ids = sorted(pd.unique(ev["user_id"]).tolist())
    index = pd.Index(user_ids)
    codes = index.get_indexer(ev["user_id"])
    secs = (pd.DatetimeIndex(ev["ts"]).as_unit("s").asi8).astype(np.float64)
    how, _, offset = local_times(ev, zones)
    order = np.lexsort((secs, codes))
    codes, secs, how, offset, w_type = codes[order], secs[order], how[order], offset[order], w_type[order]
    ok = codes >= 0
    codes, secs, how, offset, w_type = codes[ok], secs[ok], how[ok], offset[ok], w_type[ok]
    start = _session_starts(codes, secs, cfg.session_gap_min)
    weight = w_type * np.where(start, 1.0, cfg.in_session_weight)
    return EventFrame(codes, how, secs, weight, start, offset, list(user_ids))


@dataclass
class UserState:
    """Per-user sufficient statistics as of one instant (all arrays indexed by user code)."""

    counts: np.ndarray  # (n, 168) weighted
    sess: np.ndarray  # (n, 168) session starts, recency weighted
    n_events: np.ndarray
    n_sessions: np.ndarray
    last_secs: np.ndarray
    last_hour: np.ndarray
    last_sess_hour: np.ndarray
    hour_last_secs: np.ndarray  # (n, 24) last time active at each local hour
    offset: np.ndarray  # latest local offset (minutes)
    first_secs: np.ndarray  # first event time (exposure start of the visit rate)
    n_sessions_recent: np.ndarray  # session starts weighted with the rate half-life


def user_state(fr: EventFrame, asof: float, cfg: TimingConfig, n_users: int) -> UserState:
    """Statistics of each of ``n_users`` users from the events of ``fr`` strictly before ``asof``."""
    m = fr.secs < asof
    codes, how, secs, w, st, off = (
        fr.codes[m],
        fr.how[m],
        fr.secs[m],
        fr.weight[m],
        fr.session_start[m],
        fr.offset[m],
    )
    if cfg.half_life_days > 0:
        w = w * recency_weight(asof, secs, cfg.half_life_days)
    counts = np.zeros((n_users, HOURS_PER_WEEK))
    np.add.at(counts, (codes, how), w)
    sess = np.zeros((n_users, HOURS_PER_WEEK))
    np.add.at(sess, (codes[st], how[st]), w[st])
    n_events = np.bincount(codes, minlength=n_users).astype(np.float64)
    n_sessions = np.bincount(codes[st], minlength=n_users).astype(np.float64)
    last_secs = np.full(n_users, np.nan)
    last_hour = np.full(n_users, -1, dtype=np.int64)
    last_sess_hour = np.full(n_users, -1, dtype=np.int64)
    offset = np.zeros(n_users, dtype=np.int64)
    # Sorted by user then time, so the last write per user wins.
    last_secs[codes] = secs
    last_hour[codes] = how % 24
    offset[codes] = off
    last_sess_hour[codes[st]] = how[st] % 24
    hour_last = np.full((n_users, 24), np.nan)
    hour_last[codes, how % 24] = secs
    first_secs = np.full(n_users, np.nan)
    first_secs[codes[::-1]] = secs[::-1]
    recent_w = recency_weight(asof, secs[st], cfg.rate_half_life_days)
    sess_recent = np.bincount(codes[st], weights=recent_w, minlength=n_users).astype(np.float64)
    return UserState(
        counts,
        sess,
        n_events,
        n_sessions,
        last_secs,
        last_hour,
        last_sess_hour,
        hour_last,
        offset,
        first_secs,
        sess_recent,
    )


def first_after(fr: EventFrame, start: float, end: float, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Local hour (-1 if none) and time of each user's first event in ``[start, end)``."""
    m = (fr.secs >= start) & (fr.secs < end)
    codes, how, secs = fr.codes[m], fr.how[m], fr.secs[m]
    out = np.full(n_users, -1, dtype=np.int64)
    when = np.full(n_users, np.nan)
    # Reverse so the earliest (first in sorted order) write wins.
    out[codes[::-1]] = how[::-1] % 24
    when[codes[::-1]] = secs[::-1]
    return out, when
