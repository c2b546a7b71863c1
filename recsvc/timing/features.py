"""User x hour features of the next-visit learner: one row per (user, local hour of day), columns
in ``FEATURE_NAMES`` order, all read from the state as of one instant.

Three groups: the user's habit profiles (shrunk, raw, sessions, segment, population), their recent
activity relative to the instant, and the first-arrival forecasts.
"""

from __future__ import annotations

import numpy as np

from recsvc.timing.arrival import app_intensity, arrival
from recsvc.timing.config import TimingConfig
from recsvc.timing.history import UserState
from recsvc.timing.hours import circular_distance, circular_window, day_profile, normalize_rows
from recsvc.timing.localtime import local_weekday_hour
from recsvc.timing.profile import Posterior

FEATURE_NAMES: tuple[str, ...] = (
    "eb_p",
    "eb_p3",
    "eb_day_p",
    "raw_p",
    "sess_p",
    "sess_p3",
    "seg_p",
    "pop_p",
    "hour",
    "hours_from_cutoff",
    "log_events",
    "log_sessions",
    "days_since_last",
    "last_hour_dist",
    "last_session_hour_dist",
    "days_since_hour_active",
    "history_weight",
    "arrive_p",
    "arrive_p3",
    "arrive_any_p",
    "arrive_any_p3",
    "app_p3",
    "label_pop_p3",
)

Columns = dict[str, np.ndarray]  # feature name -> (k, 24)


def _each_hour(per_user: np.ndarray) -> np.ndarray:
    """A per-user value repeated over the 24 hours: (k,) -> (k, 24)."""
    return np.broadcast_to(per_user[:, None], (len(per_user), 24))


def _habit_columns(
    st: UserState, post: Posterior, seg_codes: np.ndarray, rows: np.ndarray, cut_dow: np.ndarray
) -> Columns:
    """Hour-of-day profiles: shrunk curve (overall and on the cut-off's weekday), raw counts,
    session starts, segment and population."""
    k = len(rows)
    eb24 = day_profile(post.week[rows])
    sess24 = day_profile(st.sess[rows])
    day = post.week[rows].reshape(k, 7, 24)[np.arange(k), cut_dow]
    return {
        "eb_p": eb24,
        "eb_p3": circular_window(eb24),
        "eb_day_p": normalize_rows(day),
        "raw_p": day_profile(st.counts[rows]),
        "sess_p": sess24,
        "sess_p3": circular_window(sess24),
        "seg_p": day_profile(post.seg_week[seg_codes[rows]]),
        "pop_p": np.broadcast_to(day_profile(post.pop_week[None, :])[0], (k, 24)),
    }


def _activity_columns(st: UserState, post: Posterior, rows: np.ndarray, asof: float, cut_hour: np.ndarray) -> Columns:
    """Where each hour stands relative to the cut-off and to the user's recent activity."""
    k = len(rows)
    hours = np.arange(24)[None, :].repeat(k, axis=0)
    since_hour = (asof - st.hour_last_secs[rows]) / 86400.0
    since_hour3 = np.fmin(np.fmin(since_hour, np.roll(since_hour, 1, axis=1)), np.roll(since_hour, -1, axis=1))
    last_h = st.last_hour[rows][:, None]
    last_sh = st.last_sess_hour[rows][:, None]
    return {
        "hour": hours,
        "hours_from_cutoff": (hours - cut_hour[:, None]) % 24,
        "log_events": _each_hour(np.log1p(st.n_events[rows])),
        "log_sessions": _each_hour(np.log1p(st.n_sessions[rows])),
        "days_since_last": _each_hour((asof - st.last_secs[rows]) / 86400.0),
        "last_hour_dist": np.where(last_h >= 0, circular_distance(hours, last_h), np.nan),
        "last_session_hour_dist": np.where(last_sh >= 0, circular_distance(hours, last_sh), np.nan),
        "days_since_hour_active": np.fmin(np.nan_to_num(since_hour3, nan=1e4), 1e4),
        "history_weight": _each_hour(post.history[rows]),
    }


def _arrival_columns(
    st: UserState, post: Posterior, rows: np.ndarray, asof: float, cfg: TimingConfig, app: np.ndarray
) -> Columns:
    """First-arrival forecasts without and with app-initiated events, and those events' profile."""
    arr = arrival(st, post.week, rows, asof, cfg, None)
    arr_any = arrival(st, post.week, rows, asof, cfg, app_intensity(st, app, rows, asof, cfg))
    return {
        "arrive_p": arr,
        "arrive_p3": circular_window(arr),
        "arrive_any_p": arr_any,
        "arrive_any_p3": circular_window(arr_any),
        "app_p3": circular_window(day_profile(app[rows])),
    }


def features(
    st: UserState,
    post: Posterior,
    seg_codes: np.ndarray,
    rows: np.ndarray,
    asof: float,
    cfg: TimingConfig,
    app: np.ndarray,
    label_pop: np.ndarray,
) -> np.ndarray:
    """User x hour feature matrix, ``len(rows) * 24`` rows in FEATURE_NAMES order.

    ``app`` holds the (n, 168) recency-weighted counts of app-initiated events
    (:func:`recsvc.timing.arrival.app_counts`), ``label_pop`` the (24,) population distribution of
    next-visit hours seen at the training pseudo cut-offs.
    """
    k = len(rows)
    cut_dow, cut_hour = local_weekday_hour(asof, st.offset[rows])
    cols: Columns = {
        **_habit_columns(st, post, seg_codes, rows, cut_dow),
        **_activity_columns(st, post, rows, asof, cut_hour),
        **_arrival_columns(st, post, rows, asof, cfg, app),
        "label_pop_p3": np.broadcast_to(circular_window(label_pop), (k, 24)),
    }
    stacked = np.stack([np.asarray(cols[name], dtype=np.float64) for name in FEATURE_NAMES], axis=-1)
    return stacked.reshape(k * 24, len(FEATURE_NAMES))
