"""First-arrival forecast: the local hour of a user's *first* visit after an instant, from their
visit rate and hour-of-week curve, with app-initiated events (our own push deliveries) as an
optional competing process.

Why not the habit curve itself: the next visit is not a draw from it; an hour that comes soon
after the instant wins over an equally likely hour a day later.
"""

from __future__ import annotations

import math

import numpy as np

from recsvc.timing.config import TimingConfig
from recsvc.timing.history import EventFrame, UserState, recency_weight
from recsvc.timing.hours import HOURS_PER_WEEK, day_profile, normalize_rows
from recsvc.timing.localtime import local_weekday_hour


def app_counts(fa: EventFrame, asof: float, cfg: TimingConfig, n_users: int) -> np.ndarray:
    """(n, 168) recency-weighted hour-of-week counts of app-initiated (zero-weight) events, e.g. pushes
    we delivered: on data where they exist they are part of "the user's next event"."""
    m = (fa.secs < asof) & (fa.weight <= 0)
    out = np.zeros((n_users, HOURS_PER_WEEK))
    w = recency_weight(asof, fa.secs[m], cfg.rate_half_life_days)
    np.add.at(out, (fa.codes[m], fa.how[m]), w)
    return out


def _exposure_weeks(st: UserState, rows: np.ndarray, asof: float, cfg: TimingConfig) -> np.ndarray:
    """Weeks each user has been observed by ``asof``, recent weeks counting more (rate half-life);
    at least one day, so a brand-new user's rate is not divided by zero."""
    lam = math.log(2.0) / (cfg.rate_half_life_days * 86400.0)
    span = np.nan_to_num(asof - st.first_secs[rows], nan=0.0)
    return np.asarray(np.maximum((1.0 - np.exp(-lam * span)) / lam / (7 * 86400.0), 1.0 / 7.0))


def app_intensity(st: UserState, app: np.ndarray, rows: np.ndarray, asof: float, cfg: TimingConfig) -> np.ndarray:
    """Expected app-initiated events per hour-of-week slot: recency-weighted counts / exposure weeks."""
    expo_weeks = _exposure_weeks(st, rows, asof, cfg)
    return np.asarray(app[rows] / expo_weeks[:, None], dtype=np.float64)


def arrival(
    st: UserState, week: np.ndarray, rows: np.ndarray, asof: float, cfg: TimingConfig, extra: np.ndarray | None
) -> np.ndarray:
    """(k, 24) local hour-of-day distribution of the *first* visit after ``asof``.

    Visits follow a Poisson process with intensity rate x hour-of-week share; the first arrival
    over ``arrival_horizon_days`` is folded onto the day, and the mass left after the horizon is
    spread by the habit profile. ``extra`` adds a competing process (e.g. app-initiated events) in
    expected events per hour.
    """
    k = len(rows)
    if k == 0:
        return np.zeros((0, 24))
    # Visits per week, recent weeks counting more.
    rate = st.n_sessions_recent[rows] / _exposure_weeks(st, rows, asof, cfg)
    intensity = rate[:, None] * week[rows]
    if extra is not None:
        intensity = intensity + extra
    dow, hour = local_weekday_hour(asof, st.offset[rows])
    c_how = dow * 24 + hour
    horizon = max(1, round(cfg.arrival_horizon_days * 24))
    idx = (c_how[:, None] + np.arange(horizon)[None, :]) % HOURS_PER_WEEK
    q = 1.0 - np.exp(-np.take_along_axis(intensity, idx, axis=1))
    surv = np.cumprod(np.concatenate([np.ones((k, 1)), 1.0 - q[:, :-1]], axis=1), axis=1)
    f = q * surv
    rest = np.clip(1.0 - f.sum(axis=1), 0.0, 1.0)
    out = np.zeros((k, 24))
    np.add.at(out, (np.repeat(np.arange(k), horizon), (idx % 24).ravel()), f.ravel())
    out += rest[:, None] * day_profile(intensity)
    return normalize_rows(out)
