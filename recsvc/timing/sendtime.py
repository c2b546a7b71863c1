"""Per-user send-time propensity over the 168 hours of the week, in the user's local clock.

Why this shape: most users have a handful of sessions, so their own hour counts are noisy. We
count *session starts* (the moment a user shows up; in-session events count less), weight push
opens above app opens above any activity, fade old habits, and shrink each user toward their
segment (city, else time zone, else written UTC offset) and the segment toward the population
with Dirichlet-multinomial empirical Bayes (prior strengths maximise the marginal likelihood).
The posterior is smoothed over neighbouring hours (circularly, Sunday 23h next to Monday 0h) and
partly pooled across weekdays.

A LightGBM ranker over user x hour features (trained on pseudo cut-offs stepped back from the
cut-off, label = local hour of the first event after each) replaces the shrunk curve's hour-of-day
profile only when it beats it on a time-split validation before the cut-off; both validation
scores and the decision are in ``metadata.json``.

Hours are "local": the user's IANA zone from the users table when known, else the offset the
timestamp was written in (``ts_offset_min``), else UTC.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.special import gammaln
from tqdm.auto import tqdm

from recsvc.artifacts import read_metadata, verify, write_metadata
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.timing.clock import QuietHours, resolve_timezone
from recsvc.timing.config import TimingConfig

logger = logging.getLogger(__name__)

HOURS_PER_WEEK = 168
FORMAT = 2
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


def circular_window(p: np.ndarray, radius: int = 1) -> np.ndarray:
    """Sum of each hour and its ``radius`` neighbours on the 24-hour (last axis) circle."""
    out = p.copy()
    for r in range(1, radius + 1):
        out = out + np.roll(p, r, axis=-1) + np.roll(p, -r, axis=-1)
    return out


def circular_distance(a: np.ndarray | int, b: np.ndarray | int, period: int = 24) -> np.ndarray:
    """Distance between hours on the circle (0..period/2)."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % period
    return np.minimum(d, period - d)


def local_clock(epochs: np.ndarray, zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of week (Monday 0) and hour of day of UTC instants (seconds since the epoch).

    Why: per-slot ``astimezone`` would be most of a ``Recommend`` call's send-time cost. One offset serves
    the whole span unless a DST change falls inside it; then each instant is converted.
    """
    def offset(t: float) -> float:
        off = datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    e = np.asarray(epochs, dtype=np.float64)
    if len(e) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, last = offset(float(e[0])), offset(float(e[-1]))
    off = np.full(len(e), first) if first == last else np.array([offset(float(t)) for t in e])
    local = np.floor(e + off).astype(np.int64)
    hod = (local // 3600) % 24
    weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    return weekday * 24 + hod, hod


def pick_hours(dist24: np.ndarray) -> np.ndarray:
    """The hour maximising the mass within one hour of it: the Bayes choice for hit@1h."""
    return np.asarray(np.argmax(circular_window(dist24, 1), axis=-1), dtype=np.int64)


def user_zone_map(users: pd.DataFrame | None) -> dict[str, str]:
    """user_id -> IANA zone for users whose table row names a valid one (or a known city)."""
    if users is None or users.empty:
        return {}
    out: dict[str, str] = {}
    tzs = users["timezone"].astype("string").fillna("") if "timezone" in users.columns else None
    cities = users["city"].astype("string").fillna("") if "city" in users.columns else None
    for i, uid in enumerate(users["user_id"].astype(str)):
        tz = str(tzs.iloc[i]) if tzs is not None else ""
        city = str(cities.iloc[i]) if cities is not None else ""
        if not tz and not city:
            continue
        try:
            zone = resolve_timezone(tz or None, city or None)
        except InvalidArgument:
            logger.warning("user %s: unknown time zone %r, using the written offset", uid, tz)
            continue
        if tz or zone.key != "UTC":
            out[uid] = zone.key
    return out


def local_times(events: pd.DataFrame, zones: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (hour_of_week, hour_of_day, offset_minutes) of each event in its user's clock."""
    n = len(events)
    ts = pd.DatetimeIndex(events["ts"])
    if "ts_offset_min" in events.columns:
        offset = events["ts_offset_min"].fillna(0).to_numpy(dtype=np.int64)
    else:
        offset = np.zeros(n, dtype=np.int64)
    offset = offset.copy()
    if zones:
        uid = events["user_id"].astype(str).to_numpy()
        zone_of = pd.Series(uid).map(zones).to_numpy()
        has = pd.notna(zone_of)
        for zone in pd.unique(zone_of[has]):
            idx = np.flatnonzero(zone_of == zone)
            loc = ts[idx].tz_convert(str(zone))
            off = (loc.tz_localize(None) - ts[idx].tz_localize(None)).total_seconds() // 60
            offset[idx] = np.asarray(off, dtype=np.int64)
    local = ts.tz_localize(None) + pd.to_timedelta(offset, unit="m")
    hod = np.asarray(local.hour, dtype=np.int64)
    how = np.asarray(local.day_of_week, dtype=np.int64) * 24 + hod
    return how, hod, offset


@dataclass
class _Frame:
    """Events reduced to what the model needs, sorted by user then time."""

    codes: np.ndarray  # user index
    how: np.ndarray
    secs: np.ndarray  # unix seconds
    weight: np.ndarray  # type weight x session weight
    session_start: np.ndarray  # bool
    offset: np.ndarray  # local offset minutes
    user_ids: list[str]


def _frame(
    events: pd.DataFrame,
    zones: Mapping[str, str],
    cfg: TimingConfig,
    user_ids: Sequence[str] | None = None,
    *,
    keep_zero: bool = False,
) -> _Frame:
    ev = events[
        ["user_id", "ts", "event_type"] + (["ts_offset_min"] if "ts_offset_min" in events.columns else [])
    ]
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
    new_user = np.ones(len(codes), dtype=bool)
    new_user[1:] = codes[1:] != codes[:-1]
    gap = np.empty(len(codes))
    gap[0] = np.inf
    gap[1:] = secs[1:] - secs[:-1]
    start = new_user | (gap > cfg.session_gap_min * 60.0)
    weight = w_type * np.where(start, 1.0, cfg.in_session_weight)
    return _Frame(codes, how, secs, weight, start, offset, list(user_ids))


def _smooth(p: np.ndarray, cfg: TimingConfig) -> np.ndarray:
    """Circular neighbour smoothing over the week ring plus partial weekday pooling; rows sum to 1."""
    q = p + cfg.neighbour_weight * (np.roll(p, 1, axis=-1) + np.roll(p, -1, axis=-1))
    if cfg.weekday_pooling > 0:
        shape = (*q.shape[:-1], 7, 24)
        day = q.reshape(shape).mean(axis=-2)
        q = (1 - cfg.weekday_pooling) * q + cfg.weekday_pooling * np.tile(day, 7)
    s = q.sum(axis=-1, keepdims=True)
    return np.where(s > 0, q / np.where(s > 0, s, 1.0), 1.0 / q.shape[-1])


def _dm_strength(counts: np.ndarray, prior: np.ndarray, cfg: TimingConfig, seed: int) -> float:
    """Dirichlet prior strength maximising the Dirichlet-multinomial marginal likelihood."""
    n = counts.sum(axis=1)
    keep = n > 0
    counts, prior = counts[keep], (prior[keep] if prior.ndim == 2 else prior)
    if len(counts) < 2:
        return float(math.sqrt(cfg.min_prior_strength * cfg.max_prior_strength))
    if len(counts) > 4000:
        pick = np.random.default_rng(seed).choice(len(counts), 4000, replace=False)
        counts = counts[pick]
        prior = prior[pick] if prior.ndim == 2 else prior
    n = counts.sum(axis=1)
    prior = np.clip(prior, 1e-6, None)
    grid = np.geomspace(cfg.min_prior_strength, cfg.max_prior_strength, 41)
    ll = []
    for a in grid:
        ap = a * prior
        ll.append(float(np.sum(gammaln(a) - gammaln(n + a)) + np.sum(gammaln(counts + ap) - gammaln(ap))))
    return float(grid[int(np.argmax(ll))])


@dataclass
class _State:
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


def _state(fr: _Frame, asof: float, cfg: TimingConfig, n_users: int) -> _State:
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
        w = w * np.power(0.5, (asof - secs) / 86400.0 / cfg.half_life_days)
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
    recent_w = np.power(0.5, (asof - secs[st]) / 86400.0 / cfg.rate_half_life_days)
    sess_recent = np.bincount(codes[st], weights=recent_w, minlength=n_users).astype(np.float64)
    return _State(
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


def _app_counts(fa: _Frame, asof: float, cfg: TimingConfig, n_users: int) -> np.ndarray:
    """(n, 168) recency-weighted hour-of-week counts of app-initiated (zero-weight) events, e.g. pushes
    we delivered: on data where they exist they are part of "the user's next event"."""
    m = (fa.secs < asof) & (fa.weight <= 0)
    out = np.zeros((n_users, HOURS_PER_WEEK))
    w = np.power(0.5, (asof - fa.secs[m]) / 86400.0 / cfg.rate_half_life_days)
    np.add.at(out, (fa.codes[m], fa.how[m]), w)
    return out


def _app_intensity(
    st: _State, app: np.ndarray, rows: np.ndarray, asof: float, cfg: TimingConfig
) -> np.ndarray:
    """Expected app-initiated events per hour-of-week slot: recency-weighted counts / exposure weeks."""
    lam = math.log(2.0) / (cfg.rate_half_life_days * 86400.0)
    span = np.nan_to_num(asof - st.first_secs[rows], nan=0.0)
    expo_weeks = np.maximum((1.0 - np.exp(-lam * span)) / lam / (7 * 86400.0), 1.0 / 7.0)
    return np.asarray(app[rows] / expo_weeks[:, None], dtype=np.float64)


def _arrival(
    st: _State, week: np.ndarray, rows: np.ndarray, asof: float, cfg: TimingConfig, extra: np.ndarray | None
) -> np.ndarray:
    """(k, 24) local hour-of-day distribution of the *first* visit after ``asof``.

    Why: the next visit is not a draw from the user's habit curve; an hour that comes soon after
    ``asof`` wins over an equally likely hour a day later. Visits follow a Poisson process with
    intensity rate x hour-of-week share; the first arrival over ``arrival_horizon_days`` is
    folded onto the day, and the mass left after the horizon is spread by the habit profile.
    ``extra`` adds a competing process (e.g. app-initiated events) in expected events per hour.
    """
    k = len(rows)
    if k == 0:
        return np.zeros((0, 24))
    lam = math.log(2.0) / (cfg.rate_half_life_days * 86400.0)
    span = np.nan_to_num(asof - st.first_secs[rows], nan=0.0)
    expo_weeks = np.maximum((1.0 - np.exp(-lam * span)) / lam / (7 * 86400.0), 1.0 / 7.0)
    rate = st.n_sessions_recent[rows] / expo_weeks  # visits per week, recent weeks count more
    intensity = rate[:, None] * week[rows]
    if extra is not None:
        intensity = intensity + extra
    local_cut = pd.to_datetime(asof + st.offset[rows] * 60.0, unit="s")
    c_how = np.asarray(local_cut.day_of_week, dtype=np.int64) * 24 + np.asarray(
        local_cut.hour, dtype=np.int64
    )
    horizon = max(1, round(cfg.arrival_horizon_days * 24))
    idx = (c_how[:, None] + np.arange(horizon)[None, :]) % HOURS_PER_WEEK
    q = 1.0 - np.exp(-np.take_along_axis(intensity, idx, axis=1))
    surv = np.cumprod(np.concatenate([np.ones((k, 1)), 1.0 - q[:, :-1]], axis=1), axis=1)
    f = q * surv
    rest = np.clip(1.0 - f.sum(axis=1), 0.0, 1.0)
    out = np.zeros((k, 24))
    np.add.at(out, (np.repeat(np.arange(k), horizon), (idx % 24).ravel()), f.ravel())
    tail = intensity.reshape(k, 7, 24).sum(axis=1)
    tail = tail / np.clip(tail.sum(axis=1, keepdims=True), 1e-12, None)
    out += rest[:, None] * tail
    return out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)


@dataclass
class _Posterior:
    week: np.ndarray  # (n, 168) smoothed posterior, rows sum to 1
    seg_week: np.ndarray  # (n_seg, 168)
    pop_week: np.ndarray  # (168,)
    a_user: float
    a_seg: float
    history: np.ndarray  # (n,) n/(n+A)


def _posterior(st: _State, seg_codes: np.ndarray, n_seg: int, cfg: TimingConfig) -> _Posterior:
    counts = st.counts
    pop = counts.sum(axis=0)
    pop_week = _smooth(pop[None, :] + 1e-9, cfg)[0]
    seg_counts = np.zeros((n_seg, HOURS_PER_WEEK))
    np.add.at(seg_counts, seg_codes, counts)
    a_seg = _dm_strength(seg_counts, pop_week, cfg, cfg.seed) if n_seg > 1 else cfg.max_prior_strength
    seg_n = seg_counts.sum(axis=1, keepdims=True)
    seg_week = _smooth((seg_counts + a_seg * pop_week) / (seg_n + a_seg), cfg)
    prior = seg_week[seg_codes]
    a_user = _dm_strength(counts, prior, cfg, cfg.seed + 1)
    n = counts.sum(axis=1, keepdims=True)
    week = _smooth((counts + a_user * prior) / (n + a_user), cfg)
    return _Posterior(week, seg_week, pop_week, a_user, a_seg, (n / (n + a_user))[:, 0])


def _day_profile(week: np.ndarray) -> np.ndarray:
    d = week.reshape((*week.shape[:-1], 7, 24)).sum(axis=-2)
    return d / np.clip(d.sum(axis=-1, keepdims=True), 1e-12, None)


def _features(
    st: _State,
    post: _Posterior,
    seg_codes: np.ndarray,
    rows: np.ndarray,
    asof: float,
    cfg: TimingConfig,
    app: np.ndarray,
    label_pop: np.ndarray,
) -> np.ndarray:
    """User x hour feature matrix, ``len(rows) * 24`` rows in FEATURE_NAMES order.

    ``app`` is the (n, 168) app-initiated event intensity, ``label_pop`` the (24,) population
    distribution of next-visit hours seen at the training pseudo cut-offs.
    """
    k = len(rows)
    arr = _arrival(st, post.week, rows, asof, cfg, None)
    arr_any = _arrival(st, post.week, rows, asof, cfg, _app_intensity(st, app, rows, asof, cfg))
    app24 = app[rows].reshape(k, 7, 24).sum(axis=1)
    app24 = app24 / np.clip(app24.sum(axis=1, keepdims=True), 1e-12, None)
    eb24 = _day_profile(post.week[rows])
    raw = st.counts[rows].reshape(k, 7, 24).sum(axis=1)
    raw24 = raw / np.clip(raw.sum(axis=1, keepdims=True), 1e-12, None)
    sess = st.sess[rows].reshape(k, 7, 24).sum(axis=1)
    sess24 = sess / np.clip(sess.sum(axis=1, keepdims=True), 1e-12, None)
    seg24 = _day_profile(post.seg_week[seg_codes[rows]])
    pop24 = _day_profile(post.pop_week[None, :])[0]
    local_cut = pd.to_datetime(asof + st.offset[rows] * 60.0, unit="s")
    cut_dow = np.asarray(local_cut.day_of_week, dtype=np.int64)
    cut_hour = np.asarray(local_cut.hour, dtype=np.int64)
    wk = post.week[rows].reshape(k, 7, 24)
    day = wk[np.arange(k), cut_dow]
    day = day / np.clip(day.sum(axis=1, keepdims=True), 1e-12, None)
    hours = np.arange(24)[None, :].repeat(k, axis=0)
    since_hour = (asof - st.hour_last_secs[rows]) / 86400.0
    since_hour3 = np.fmin(
        np.fmin(since_hour, np.roll(since_hour, 1, axis=1)), np.roll(since_hour, -1, axis=1)
    )
    last_h = st.last_hour[rows][:, None]
    last_sh = st.last_sess_hour[rows][:, None]
    cols = [
        eb24,
        circular_window(eb24),
        day,
        raw24,
        sess24,
        circular_window(sess24),
        np.broadcast_to(seg24, (k, 24)) if seg24.ndim == 1 else seg24,
        np.broadcast_to(pop24, (k, 24)),
        hours,
        (hours - cut_hour[:, None]) % 24,
        np.broadcast_to(np.log1p(st.n_events[rows])[:, None], (k, 24)),
        np.broadcast_to(np.log1p(st.n_sessions[rows])[:, None], (k, 24)),
        np.broadcast_to(((asof - st.last_secs[rows]) / 86400.0)[:, None], (k, 24)),
        np.where(last_h >= 0, circular_distance(hours, last_h), np.nan),
        np.where(last_sh >= 0, circular_distance(hours, last_sh), np.nan),
        np.fmin(np.nan_to_num(since_hour3, nan=1e4), 1e4),
        np.broadcast_to(post.history[rows][:, None], (k, 24)),
        arr,
        circular_window(arr),
        arr_any,
        circular_window(arr_any),
        circular_window(app24),
        np.broadcast_to(circular_window(label_pop), (k, 24)),
    ]
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=-1).reshape(k * 24, len(cols))


def _first_after(fr: _Frame, start: float, end: float, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Local hour (-1 if none) and time of each user's first event in ``[start, end)``."""
    m = (fr.secs >= start) & (fr.secs < end)
    codes, how, secs = fr.codes[m], fr.how[m], fr.secs[m]
    out = np.full(n_users, -1, dtype=np.int64)
    when = np.full(n_users, np.nan)
    # Reverse so the earliest (first in sorted order) write wins.
    out[codes[::-1]] = how[::-1] % 24
    when[codes[::-1]] = secs[::-1]
    return out, when


def _hit(dist24: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(circular_distance(pick_hours(dist24), truth) <= 1)) if len(truth) else float("nan")


def _lgbm_params(cfg: TimingConfig) -> dict[str, Any]:
    return {
        "objective": "binary",
        "learning_rate": cfg.lgbm_learning_rate,
        "num_leaves": cfg.lgbm_num_leaves,
        "min_data_in_leaf": cfg.lgbm_min_data_in_leaf,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": cfg.seed,
        "deterministic": True,
        "num_threads": 1,  # small data; OpenMP spinning on busy cores costs more than it saves
        "verbose": -1,
    }


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    s = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SlotChoice:
    """When to send: the UTC instant, its local hour, how sure we are and the curve it came from."""

    send_at_utc: datetime
    local_hour: int
    confidence: float
    window_start: datetime
    window_end: datetime
    curve: list[tuple[datetime, float]] = field(default_factory=list)
    deferred: bool = False
    reason: str = ""


@dataclass
class SendTimeModel:
    """Fitted per-user hour-of-week propensities (+ optional LightGBM hour-of-day re-weighting)."""

    user_ids: list[str]
    counts: np.ndarray
    user_segment: np.ndarray
    segments: list[str]
    seg_week: np.ndarray
    pop_week: np.ndarray
    a_user: float
    a_seg: float
    config: TimingConfig
    lgbm_hour: np.ndarray | None = None  # (n_users, 24) LightGBM hour-of-day distribution
    lgbm_model_text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {u: i for i, u in enumerate(self.user_ids)}
        self._seg_index = {s: i for i, s in enumerate(self.segments)}
        n = self.counts.sum(axis=1, keepdims=True)
        prior = self.seg_week[self.user_segment] if len(self.user_ids) else np.zeros((0, HOURS_PER_WEEK))
        self._week = _smooth((self.counts + self.a_user * prior) / (n + self.a_user), self.config)
        self._history = (n / (n + self.a_user))[:, 0]

    # ----------------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        events: pd.DataFrame,
        users: pd.DataFrame | None = None,
        *,
        cutoff: datetime | pd.Timestamp,
        config: TimingConfig | None = None,
        progress: bool = True,
    ) -> SendTimeModel:
        """Fit on events strictly before ``cutoff`` (later rows are ignored, never peeked at)."""
        cfg = (config or TimingConfig()).validate()
        cut = pd.Timestamp(cutoff)
        if cut.tzinfo is None:
            raise InvalidArgument("cutoff must be timezone-aware (UTC)", field="cutoff")
        cut_s = float(cut.timestamp())
        ev = events[events["ts"] < cut]
        if ev.empty:
            raise FailedPrecondition(
                f"no events before the cut-off {cut.isoformat()} to fit a send-time model"
            )
        zones = user_zone_map(users)
        fr = _frame(ev, zones, cfg)
        n = len(fr.user_ids)
        seg_names, seg_codes = cls._segments(fr, users, zones)
        steps = tqdm(total=cfg.pseudo_cutoffs + 2, desc="sendtime", disable=not progress)
        st = _state(fr, cut_s, cfg, n)
        post = _posterior(st, seg_codes, len(seg_names), cfg)
        steps.update(1)
        meta: dict[str, Any] = {
            "format": FORMAT,
            "kind": "sendtime",
            "feature_names": list(FEATURE_NAMES),
            "training_window": {
                "start": pd.Timestamp(fr.secs.min(), unit="s", tz="UTC").isoformat(),
                "cutoff": cut.isoformat(),
            },
            "n_users": n,
            "n_events": len(fr.secs),
            "prior_strength": {"user": post.a_user, "segment": post.a_seg},
            "n_segments": len(seg_names),
            "config": {
                k: (list(map(list, v)) if k == "event_weights" else v) for k, v in cfg.__dict__.items()
            },
            "library_versions": _versions(),
        }
        lgbm_hour: np.ndarray | None = None
        model_text: str | None = None
        decision = {"used": False, "reason": "disabled"}
        if cfg.use_lgbm:
            fa = _frame(ev, zones, cfg, fr.user_ids, keep_zero=True)
            lgbm_hour, model_text, decision = cls._fit_lgbm(
                fr, fa, st, post, seg_codes, len(seg_names), cut_s, cfg, steps
            )
        steps.close()
        meta["lgbm"] = decision
        model = cls(
            fr.user_ids,
            st.counts.astype(np.float32),
            seg_codes.astype(np.int32),
            seg_names,
            post.seg_week.astype(np.float32),
            post.pop_week.astype(np.float32),
            post.a_user,
            post.a_seg,
            cfg,
            lgbm_hour.astype(np.float32) if lgbm_hour is not None else None,
            model_text,
            meta,
        )
        logger.info(
            "send-time model: %d users, %d segments, prior strengths user=%.3g segment=%.3g, lgbm=%s",
            n,
            len(seg_names),
            post.a_user,
            post.a_seg,
            decision.get("used"),
        )
        return model

    @staticmethod
    def _segments(
        fr: _Frame, users: pd.DataFrame | None, zones: Mapping[str, str]
    ) -> tuple[list[str], np.ndarray]:
        """Segment = city when the users table gives one, else time zone, else written offset."""
        city: dict[str, str] = {}
        if users is not None and "city" in users.columns:
            for uid, c in zip(
                users["user_id"].astype(str), users["city"].astype("string").fillna(""), strict=True
            ):
                if str(c).strip():
                    city[uid] = "city:" + str(c).strip().lower()
        last_off = np.zeros(len(fr.user_ids), dtype=np.int64)
        last_off[fr.codes] = fr.offset
        keys = []
        for i, uid in enumerate(fr.user_ids):
            if uid in city:
                keys.append(city[uid])
            elif uid in zones:
                keys.append("tz:" + zones[uid])
            else:
                keys.append(f"offset:{int(last_off[i])}")
        names = sorted(set(keys))
        idx = {s: i for i, s in enumerate(names)}
        return names, np.array([idx[k] for k in keys], dtype=np.int64)

    @classmethod
    def _fit_lgbm(
        cls,
        fr: _Frame,
        fa: _Frame,
        st: _State,
        post: _Posterior,
        seg_codes: np.ndarray,
        n_seg: int,
        cut_s: float,
        cfg: TimingConfig,
        steps: Any,
    ) -> tuple[np.ndarray | None, str | None, dict[str, Any]]:
        """Learn the next-visit hour on pseudo cut-offs before the cut-off; keep it only if it wins.

        Candidates judged on held-out users: LightGBM, its mean with the shrunk curve, and the
        first-arrival (hazard) distribution. The shrunk curve is the default.
        """
        import lightgbm as lgb

        n = len(fr.user_ids)
        label_fr = fa if cfg.label_events == "any" else fr
        parts: list[tuple[_State, _Posterior, np.ndarray, np.ndarray, float]] = []
        users: list[np.ndarray] = []
        truths: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        first_s = float(fr.secs.min())
        for k in range(1, cfg.pseudo_cutoffs + 1):
            steps.update(1)
            c = cut_s - cfg.min_label_window_days * 86400.0 - (k - 1) * cfg.pseudo_cutoff_step_days * 86400.0
            if c <= first_s + cfg.pseudo_cutoff_step_days * 86400.0:
                break
            sk = _state(fr, c, cfg, n)
            truth, truth_s = _first_after(label_fr, c, cut_s, n)
            rows = np.flatnonzero((sk.n_events > 0) & (truth >= 0))
            if len(rows) == 0:
                continue
            pk = _posterior(sk, seg_codes, n_seg, cfg)
            parts.append((sk, pk, rows, _app_counts(fa, c, cfg, n), c))
            users.append(rows)
            truths.append(truth[rows])
            keys.append(truth_s[rows])
        n_cut = len(parts)
        n_examples = int(sum(len(t) for t in truths))
        if n_examples < cfg.min_training_examples or n_cut < 1:
            return (
                None,
                None,
                {
                    "used": False,
                    "reason": f"too few pseudo-cut-off examples ({n_examples})",
                    "n_examples": n_examples,
                },
            )
        u, t = np.concatenate(users), np.concatenate(truths)
        # A user idle across several pseudo cut-offs yields the same label (and nearly the same
        # features) at each: weight such duplicates 1/count so they do not dominate.
        key = pd.Series(u.astype(np.float64) * 1e10 + np.concatenate(keys))
        w = 1.0 / key.map(key.value_counts()).to_numpy(dtype=np.float64)
        # Validate on held-out *users*: the same user at another pseudo cut-off is a near-copy.
        val_users = np.random.default_rng(cfg.seed).random(n) < cfg.validation_share
        va = val_users[u]
        if va.sum() == 0 or (~va).sum() == 0:
            return (
                None,
                None,
                {"used": False, "reason": "cannot split users for validation", "n_examples": n_examples},
            )

        def label_prior(mask: np.ndarray) -> np.ndarray:
            lp = np.bincount(t[mask], weights=w[mask], minlength=24) + 1.0
            return np.asarray(lp / lp.sum(), dtype=np.float64)

        def matrix(lp: np.ndarray) -> np.ndarray:
            return np.concatenate(
                [_features(sk, pk, seg_codes, rows, c, cfg, app, lp) for sk, pk, rows, app, c in parts]
            )

        eb = np.concatenate([_day_profile(pk.week[rows]) for _, pk, rows, _, _ in parts])
        arr = np.concatenate(
            [
                _arrival(sk, pk.week, rows, c, cfg, _app_intensity(sk, app, rows, c, cfg))
                for sk, pk, rows, app, c in parts
            ]
        )
        y = np.zeros((len(t), 24))
        y[np.arange(len(t)), t] = 1
        params = _lgbm_params(cfg)
        n_feat = len(FEATURE_NAMES)

        def train(x: np.ndarray, mask: np.ndarray) -> Any:
            ds = lgb.Dataset(
                x.reshape(-1, 24, n_feat)[mask].reshape(-1, n_feat),
                y[mask].reshape(-1),
                weight=np.repeat(w[mask], 24),
                feature_name=list(FEATURE_NAMES),
            )
            return lgb.train(params, ds, num_boost_round=cfg.lgbm_rounds)

        # The label prior of the validation model sees training users' labels only.
        x_tr = matrix(label_prior(~va))
        booster = train(x_tr, ~va)
        d_lgb = _softmax_rows(
            booster.predict(x_tr.reshape(-1, 24, n_feat)[va].reshape(-1, n_feat), raw_score=True).reshape(
                -1, 24
            )
        )
        t_va, w_va = t[va], w[va]

        def whit(d: np.ndarray) -> float:
            return float(np.sum(w_va * (circular_distance(pick_hours(d), t_va) <= 1)) / w_va.sum())

        def wll(d: np.ndarray) -> float:
            return float(
                -np.sum(w_va * np.log(np.clip(d[np.arange(len(t_va)), t_va], 1e-9, None))) / w_va.sum()
            )

        cands = {
            "shrunk": eb[va],
            "arrival": arr[va],
            "lgbm": d_lgb,
            "blend": 0.5 * (d_lgb + eb[va]),
        }
        hits = {m: whit(d) for m, d in cands.items()}
        lls = {m: wll(d) for m, d in cands.items()}
        # Order breaks ties toward the simpler candidate; a learned one must also beat the
        # shrunk curve by ``lgbm_min_gain``.
        best = "shrunk"
        for m in ("arrival", "lgbm", "blend"):
            margin = cfg.lgbm_min_gain if m != "arrival" else 0.0
            if hits[m] > hits[best] + margin and hits[m] > hits["shrunk"] + margin:
                best = m
        used = best != "shrunk"
        decision: dict[str, Any] = {
            "used": bool(used),
            "mode": best,
            "reason": f"{best} has the best validation hit@1h" if used else "nothing beats the shrunk curve",
            "validation": {
                **{f"{m}_hit@1h": v for m, v in hits.items()},
                **{f"{m}_log_loss": v for m, v in lls.items()},
                "n_users": len(np.unique(u[va])),
                "n_examples": int(va.sum()),
            },
            "n_examples": n_examples,
            "pseudo_cutoffs": n_cut,
            "label_events": cfg.label_events,
        }
        logger.info(
            "send-time validation hit@1h: %s (n=%d): use %s",
            ", ".join(f"{m} {v:.4f}" for m, v in hits.items()),
            int(va.sum()),
            best,
        )
        # A forecast whose labels include app-initiated events (our own push deliveries) predicts when
        # *we* last sent, not when the user shows up: it serves evaluation, never send-time choice.
        n_app = int(np.sum(fa.weight <= 0))
        decision["app_initiated_events"] = n_app
        decision["serving"] = bool(used and (cfg.label_events == "engaged" or n_app == 0))
        if not used:
            return None, None, decision
        rows = np.flatnonzero(st.n_events > 0)
        app_now = _app_counts(fa, cut_s, cfg, n)
        hour = np.zeros((n, 24))
        if best == "arrival":
            extra = _app_intensity(st, app_now, rows, cut_s, cfg)
            hour[rows] = _arrival(st, post.week, rows, cut_s, cfg, extra)
            steps.update(1)
            return hour, None, decision
        lp_all = label_prior(np.ones(len(t), dtype=bool))
        final = train(matrix(lp_all), np.ones(len(t), dtype=bool))
        hour[rows] = _softmax_rows(
            final.predict(
                _features(st, post, seg_codes, rows, cut_s, cfg, app_now, lp_all), raw_score=True
            ).reshape(-1, 24)
        )
        if best == "blend":
            hour[rows] = 0.5 * (hour[rows] + _day_profile(post.week[rows]))
        decision["label_prior"] = [float(v) for v in lp_all]
        steps.update(1)
        return hour, final.model_to_string(), decision

    # ----------------------------------------------------------------------------- queries
    def week_curve(self, user_id: str, segment: str | None = None) -> np.ndarray:
        """The user's 168-hour local propensity (rows sum to 1); unknown users get segment or population."""
        i = self._index.get(str(user_id))
        if i is not None:
            return np.asarray(self._week[i], dtype=np.float64)
        if segment is not None:
            for key in (segment, "city:" + segment.strip().lower(), "tz:" + segment.strip()):
                j = self._seg_index.get(key)
                if j is not None:
                    return np.asarray(self.seg_week[j], dtype=np.float64)
        return np.asarray(self.pop_week, dtype=np.float64)

    def history_weight(self, user_id: str) -> float:
        """How much of the user's curve is their own history (0 for unknown users)."""
        i = self._index.get(str(user_id))
        return float(self._history[i]) if i is not None else 0.0

    def _hour_adjust(self, user_id: str) -> np.ndarray:
        """Per local hour multiplier that turns the curve's day profile into LightGBM's (1 if unused)."""
        i = self._index.get(str(user_id))
        if self.lgbm_hour is None or i is None or self.lgbm_hour[i].sum() <= 0:
            return np.ones(24)
        if not self.metadata.get("lgbm", {}).get("serving", True):
            return np.ones(24)
        base = _day_profile(self._week[i][None, :])[0]
        return np.asarray(self.lgbm_hour[i], dtype=np.float64) / np.clip(base, 1e-9, None)

    def hour_distribution(self, user_ids: Sequence[str], *, use_lgbm: bool = True) -> np.ndarray:
        """(n, 24) local hour-of-day distribution of each user's next visit."""
        out = np.tile(_day_profile(np.asarray(self.pop_week, dtype=np.float64)[None, :]), (len(user_ids), 1))
        idx = np.array([self._index.get(str(u), -1) for u in user_ids], dtype=np.int64)
        known = idx >= 0
        if known.any():
            out[known] = _day_profile(self._week[idx[known]])
            if self.lgbm_hour is not None and use_lgbm:
                lg = self.lgbm_hour[idx[known]].astype(np.float64)
                has = lg.sum(axis=1) > 0
                sub = out[known]
                sub[has] = lg[has] / lg[has].sum(axis=1, keepdims=True)
                out[known] = sub
        return out

    def predict_hours(self, user_ids: Sequence[str]) -> np.ndarray:
        """Best local hour of day per user (the hour with the most mass within one hour of it)."""
        return pick_hours(self.hour_distribution(user_ids))

    def curve(
        self,
        user_id: str,
        start_utc: datetime,
        hours: int = 48,
        tz: str | ZoneInfo = "UTC",
        segment: str | None = None,
    ) -> list[tuple[datetime, float]]:
        """Propensity of each local hour slot from ``start_utc`` on: ``(slot_start_utc, p)``, p sums to 1."""
        if start_utc.tzinfo is None:
            raise InvalidArgument("start_utc must be timezone-aware", field="start_utc")
        if hours < 1:
            raise InvalidArgument("hours must be >= 1", field="hours")
        zone = tz if isinstance(tz, ZoneInfo) else resolve_timezone(tz)
        t0, p, _, _, _ = self._curve_arrays(user_id, start_utc, hours, zone, segment)
        return [(t0 + timedelta(hours=h), v) for h, v in enumerate(p.tolist())]

    def _curve_arrays(
        self, user_id: str, start_utc: datetime, hours: int, zone: ZoneInfo, segment: str | None
    ) -> tuple[datetime, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """First slot (UTC), normalized and raw propensity and local hour of each hourly slot, and the
        (week curve, hour adjustment) they came from."""
        week = self.week_curve(user_id, segment)
        adj = self._hour_adjust(user_id)
        local0 = start_utc.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        t0 = local0.astimezone(UTC)
        how, hod = local_clock(t0.timestamp() + 3600.0 * np.arange(hours), zone)
        raw = week[how] * adj[hod]
        tot = raw.sum()
        p = raw / tot if tot > 0 else np.full(hours, 1.0 / hours)
        return t0, p, raw, hod, (week, adj)

    def best_slot(
        self,
        user_id: str,
        *,
        now_utc: datetime,
        tz: str | ZoneInfo = "UTC",
        quiet: QuietHours | None = None,
        window_end_utc: datetime | None = None,
        deadline: datetime | None = None,
        window_start_utc: datetime | None = None,
        segment: str | None = None,
        on_all_quiet: str | None = None,
    ) -> SlotChoice | None:
        """The best allowed send instant in ``[max(now, window_start), min(window_end, deadline)]``.

        Candidates are the window start and every local top of the hour inside the window; quiet
        hours are never chosen. If the whole window is quiet: ``on_all_quiet="defer"`` (config
        default) returns the first allowed minute after it with ``deferred=True``; ``"suppress"``
        returns None so the caller drops the send. Never returns None for any other reason.
        """
        if now_utc.tzinfo is None:
            raise InvalidArgument("now_utc must be timezone-aware", field="now_utc")
        mode = on_all_quiet or self.config.on_all_quiet
        if mode not in ("defer", "suppress"):
            raise InvalidArgument(
                f"on_all_quiet must be 'defer' or 'suppress', got {mode!r}", field="on_all_quiet"
            )
        zone = tz if isinstance(tz, ZoneInfo) else resolve_timezone(tz)
        qh = quiet or QuietHours.parse(self.config.default_quiet_hours)
        now = now_utc.astimezone(UTC)
        start = max(now, window_start_utc.astimezone(UTC)) if window_start_utc is not None else now
        end = start + timedelta(hours=self.config.curve_hours)
        for lim in (window_end_utc, deadline):
            if lim is not None:
                end = min(end, lim.astimezone(UTC))
        end = max(end, start)
        n_hours = max(1, math.ceil((end - start).total_seconds() / 3600.0) + 1)
        t0, p, raw, hod, (week, adj) = self._curve_arrays(user_id, start, n_hours, zone, segment)
        curve = [(t0 + timedelta(hours=h), v) for h, v in enumerate(p.tolist())]
        # Candidates: ``start`` itself, then every slot start in (start, end]; quiet hours never.
        best: datetime | None = None
        best_p = -1.0
        loc_start = start.astimezone(zone)
        if not qh.contains(loc_start):
            best, best_p = start, float(week[loc_start.weekday() * 24 + loc_start.hour] * adj[loc_start.hour])
        secs = t0.timestamp() + 3600.0 * np.arange(n_hours)
        inside = (secs > start.timestamp()) & (secs <= end.timestamp())
        allowed = inside & ~np.asarray(qh.quiet_mask(), dtype=bool)[hod]
        if allowed.any():
            scores = np.where(allowed, raw, -1.0)
            j = int(np.argmax(scores))  # the first of equal maxima, as the loop it replaced
            if scores[j] > best_p + 1e-15:
                best, best_p = t0 + timedelta(hours=j), float(scores[j])
        deferred = False
        reason = "peak propensity in the window outside quiet hours"
        if best is None:
            if mode == "suppress":
                logger.debug("user %s: whole window %s..%s is quiet; suppressed", user_id, start, end)
                return None
            best = qh.next_allowed(end.astimezone(zone)).astimezone(UTC)
            deferred = True
            reason = f"whole window is inside quiet hours {qh}; deferred to the first allowed time after it"
        loc = best.astimezone(zone)
        prof = _day_profile(week[None, :])[0] * adj
        h = loc.hour
        mass = float((prof[(h - 1) % 24] + prof[h] + prof[(h + 1) % 24]) / prof.sum())
        confidence = mass * (0.5 + 0.5 * self.history_weight(user_id))
        return SlotChoice(best, loc.hour, confidence, start, end, curve, deferred, reason)

    # ----------------------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``metadata.json`` + ``.npy`` arrays (+ LightGBM text); no pickle."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "counts.npy", self.counts.astype(np.float32))
        np.save(d / "user_segment.npy", self.user_segment.astype(np.int32))
        np.save(d / "seg_week.npy", self.seg_week.astype(np.float32))
        np.save(d / "pop_week.npy", self.pop_week.astype(np.float32))
        (d / "users.json").write_text(json.dumps(self.user_ids), encoding="utf-8")
        (d / "segments.json").write_text(json.dumps(self.segments, ensure_ascii=False), encoding="utf-8")
        if self.lgbm_hour is not None:
            np.save(d / "lgbm_hour.npy", self.lgbm_hour.astype(np.float32))
        if self.lgbm_model_text is not None:
            (d / "lgbm.txt").write_text(self.lgbm_model_text, encoding="utf-8")
        meta = dict(self.metadata)
        meta.update(
            {
                "format": FORMAT,
                "kind": "sendtime",
                "prior_strength": {"user": self.a_user, "segment": self.a_seg},
                "lgbm_hour": self.lgbm_hour is not None,
            }
        )
        write_metadata(d, meta, indent=2, ensure_ascii=False)  # last: checksums of every file above
        return d

    def save_version(self, models_root: str | Path) -> Path:
        """Save under ``models_root/<UTC timestamp>/`` (e.g. ``20261124T011500Z``) and return that path.

        Why a timestamp: versions sort by time and never overwrite each other; a clash within the same
        second gets a ``-1``, ``-2``... suffix.
        """
        root = Path(models_root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = root / stamp
        k = 0
        while True:
            try:
                target.mkdir()
                break
            except FileExistsError:
                k += 1
                target = root / f"{stamp}-{k}"
        meta_version = dict(self.metadata)
        meta_version["version"] = target.name
        self.metadata = meta_version
        return self.save(target)

    @classmethod
    def load(cls, directory: str | Path, config: TimingConfig | None = None) -> SendTimeModel:
        """Load a saved model; a missing or mismatched artifact raises FailedPrecondition naming the path."""
        d = Path(directory)
        mpath = d / "metadata.json"
        meta = read_metadata(d, "send-time model")
        if meta.get("kind") != "sendtime" or meta.get("format") != FORMAT:
            raise FailedPrecondition(
                f"{mpath}: not a send-time model of format {FORMAT} "
                f"(kind={meta.get('kind')!r}, format={meta.get('format')!r})"
            )
        if meta.get("feature_names") != list(FEATURE_NAMES):
            raise FailedPrecondition(f"{mpath}: feature names differ from this code's")
        verify(d, meta)  # sizes and checksums before numpy reads the arrays

        def arr(name: str) -> np.ndarray:
            p = d / name
            if not p.is_file():
                raise FailedPrecondition(f"{p}: send-time model file missing")
            return np.load(p, allow_pickle=False)

        try:
            user_ids = json.loads((d / "users.json").read_text(encoding="utf-8"))
            segments = json.loads((d / "segments.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"{d}: users.json/segments.json missing or unreadable ({exc})") from None
        counts, useg, seg_week, pop = (
            arr("counts.npy"),
            arr("user_segment.npy"),
            arr("seg_week.npy"),
            arr("pop_week.npy"),
        )
        lgbm_hour = arr("lgbm_hour.npy") if meta.get("lgbm_hour") else None
        if (
            counts.shape != (len(user_ids), HOURS_PER_WEEK)
            or useg.shape != (len(user_ids),)
            or seg_week.shape != (len(segments), HOURS_PER_WEEK)
            or pop.shape != (HOURS_PER_WEEK,)
            or (lgbm_hour is not None and lgbm_hour.shape != (len(user_ids), 24))
        ):
            raise FailedPrecondition(f"{d}: send-time arrays have inconsistent shapes")
        text = (d / "lgbm.txt").read_text(encoding="utf-8") if (d / "lgbm.txt").is_file() else None
        cfg = config or _config_from_meta(meta.get("config", {}))
        ps = meta.get("prior_strength", {})
        return cls(
            list(map(str, user_ids)),
            counts,
            useg,
            list(map(str, segments)),
            seg_week,
            pop,
            float(ps.get("user", 1.0)),
            float(ps.get("segment", 1.0)),
            cfg,
            lgbm_hour,
            text,
            meta,
        )


def _config_from_meta(raw: Mapping[str, Any]) -> TimingConfig:
    known = TimingConfig.__dataclass_fields__
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    if "event_weights" in kwargs:
        kwargs["event_weights"] = tuple((str(a), float(b)) for a, b in kwargs["event_weights"])
    try:
        return TimingConfig(**kwargs).validate()
    except (TypeError, InvalidArgument):
        logger.warning("saved send-time config unreadable; using defaults")
        return TimingConfig()


def _versions() -> dict[str, str]:
    import lightgbm
    import scipy

    return {
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "lightgbm": lightgbm.__version__,
        "scipy": scipy.__version__,
    }
