"""Point-in-time lifecycle features per user, as of a cut-off, with no look-ahead.

Only events with ``ts < cutoff`` are read, so the same code builds training rows at historical
cut-offs and serving rows "now". Everything is numpy over integer user codes, because the service
scores millions of users in one batch: the log is encoded once into an :class:`EventLog` (sorted by
user and time, with each user's row range), a cut-off gathers only the wanted users' rows, and users
are processed in blocks of a few million events so memory stays flat. Features that a data set
cannot feed (pushes on CDNOW, money on MovieLens) are simply constant there.

"Activity" means every event a user makes; system events (``push_delivered``) are excluded so a
campaign cannot make a silent user look active.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsvc.errors import InvalidArgument
from recsvc.lifecycle.bgnbd import BGNBDParams, expected_purchases, fit_bgnbd, p_alive, p_zero
from recsvc.lifecycle.eventlog import EventLog, as_event_log
from recsvc.lifecycle.eventlog import seconds as _seconds  # noqa: F401 - used by recsvc.evaluation.churn
from recsvc.lifecycle.gapsurv import GapCounts, GapSurvival, stratum
from recsvc.lifecycle.paretonbd import expected_purchases as pnbd_expected
from recsvc.lifecycle.paretonbd import fit_paretonbd
from recsvc.lifecycle.paretonbd import p_alive as pnbd_p_alive
from recsvc.lifecycle.paretonbd import p_zero as pnbd_p_zero
from recsvc.vocabulary import EVENT_TYPES

logger = logging.getLogger(__name__)

WINDOWS: tuple[int, ...] = (7, 30, 90, 365)
TREND_WINDOWS: tuple[int, ...] = (7, 30, 90, 180)
SYSTEM_EVENTS: tuple[str, ...] = ("push_delivered",)
SESSION_GAP_S = 30 * 60
BGNBD_FIT_SAMPLE = 20_000  # customers sampled (seeded) to fit the population parameters (BG/NBD, Pareto/NBD)
BGNBD_PRESAMPLE_USERS = 100_000  # fit_window_bgnbd summarises a seeded half of this many users above it
DAY_S = 86400.0

FEATURE_NAMES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    *(f"n_events_{w}d" for w in WINDOWS),
    "n_events_all",
    *(f"active_days_{w}d" for w in WINDOWS),
    "active_days_all",
    "n_sessions_30d",
    "n_sessions_all",
    "gap_mean_days",
    "gap_std_days",
    "overdue_ratio",
    *(f"trend_{w}d" for w in TREND_WINDOWS),
    "hour_entropy",
    "active_window_share_h",
    "recency_over_h",
    "horizon_days",
    *(f"n_purchases_{w}d" for w in WINDOWS),
    "n_purchases_all",
    *(f"money_{w}d" for w in (30, 90, 365)),
    "money_all",
    "avg_order_value",
    "days_since_purchase",
    "purchase_gap_mean_days",
    "purchase_gap_std_days",
    "purchase_overdue_ratio",
    "n_distinct_items",
    "cart_open_items",
    "hours_since_cart",
    "push_delivered_all",
    "push_delivered_30d",
    "push_open_rate",
    "push_click_rate",
    "push_dismissed_all",
    "pushes_last5",
    "opens_last5",
    "unsubscribed",
    *(f"n_{t}" for t in EVENT_TYPES),
    "bgnbd_repeat_days",
    "bgnbd_p_alive",
    "bgnbd_expected_h",
    "bgnbd_p_zero_h",
    "gap_p_no_return_h",
    "gap_p_no_return_own_h",
)
# Pareto/NBD P(alive), expected purchases and P(no purchase) in the horizon: compute_features adds them
# only on request (with_paretonbd), for the churn evaluation's baselines; the model does not read them.
PARETONBD_COLUMNS: tuple[str, ...] = ("pnbd_p_alive", "pnbd_expected_h", "pnbd_p_zero_h")

DEFAULT_BLOCK_EVENTS = 4_000_000  # events per block of users: bounds the temporaries on big logs


def _cutoff_seconds(cutoff: pd.Timestamp) -> float:
    c = pd.Timestamp(cutoff)
    if c.tzinfo is None:
        c = c.tz_localize("UTC")
    return float(c.value) / 1e9


def _last_in_group(codes: np.ndarray, values: np.ndarray, n: int, fill: float) -> np.ndarray:
    """Value of the last row per code in an array already sorted by (code, time)."""
    out = np.full(n, fill, dtype=np.float64)
    if len(codes):
        last = np.r_[codes[1:] != codes[:-1], True]
        out[codes[last]] = values[last]
    return out


def _first_in_group(codes: np.ndarray, values: np.ndarray, n: int, fill: float) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    if len(codes):
        first = np.r_[True, codes[1:] != codes[:-1]]
        out[codes[first]] = values[first]
    return out


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _new_days(codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Mask of each user's first row of each day, from rows sorted by (code, day)."""
    return np.r_[True, (codes[1:] != codes[:-1]) | (days[1:] != days[:-1])] if len(codes) else np.zeros(0, bool)


def _mean_gap(tx: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mean days between active days (span over repeats); 0 for users without a repeat."""
    return np.divide(tx, x, out=np.zeros(len(x)), where=x >= 1)


def _gap_stats(codes: np.ndarray, days: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count of distinct days, mean and std of gaps between them, from rows sorted by (code, day)."""
    new = _new_days(codes, days)
    dc, dd = codes[new], days[new]
    ndays = np.bincount(dc, minlength=n).astype(np.float64)
    same = dc[1:] == dc[:-1] if len(dc) else np.zeros(0, bool)
    gaps = (dd[1:] - dd[:-1])[same]
    gc = dc[1:][same]
    cnt = np.bincount(gc, minlength=n).astype(np.float64)
    s1 = np.bincount(gc, weights=gaps, minlength=n)
    s2 = np.bincount(gc, weights=gaps * gaps, minlength=n)
    mean = _safe_div(s1, cnt)
    var = np.maximum(_safe_div(s2, cnt) - mean * mean, 0.0)
    return ndays, mean, np.sqrt(var)


def compute_features(
    events: pd.DataFrame | EventLog,
    cutoff: pd.Timestamp,
    *,
    users: Sequence[str] | None = None,
    bgnbd: BGNBDParams | None = None,
    horizon_days: float = 30.0,
    with_bgnbd: bool = True,
    block_events: int = DEFAULT_BLOCK_EVENTS,
    progress: bool = False,
    gap_survival: GapSurvival | None = None,
    with_paretonbd: bool = False,
) -> pd.DataFrame:
    """Features as of ``cutoff`` (events with ``ts < cutoff`` only), index user_id, columns FEATURE_NAMES.

    ``users`` fixes the rows (users without events get a cold-start row); otherwise every user with an
    event before the cut-off. BG/NBD columns use ``bgnbd`` or, when None, a fit on the same window
    (``with_bgnbd=False`` leaves them NaN, for callers that only need the rule inputs). Pass an
    :class:`EventLog` when computing several cut-offs over one log: a frame is encoded on every call.
    Users are processed in blocks of about ``block_events`` events, so memory stays flat on big logs.
    ``with_paretonbd`` appends PARETONBD_COLUMNS, from a Pareto/NBD fit on the same (x, t_x, T) sample as
    BG/NBD's: churn-evaluation baselines only, never model features (they did not move its AUC).
    """
    out, _, _ = _compute(
        as_event_log(events),
        cutoff,
        users=users,
        bgnbd=bgnbd,
        gap_survival=gap_survival,
        horizon_days=horizon_days,
        with_bgnbd=with_bgnbd,
        block_events=block_events,
        progress=progress,
        with_paretonbd=with_paretonbd,
    )
    return out


def _target_users(
    log: EventLog, cut_s: float, users: Sequence[str] | None, codes: np.ndarray | None = None
) -> tuple[pd.Index, np.ndarray]:
    """Row index of the result and each row's user code in ``log`` (-1 = unknown user, cold start)."""
    if codes is not None:
        return pd.Index(log.users[codes], dtype=object), np.asarray(codes, dtype=np.int64)
    if users is None:
        codes = np.flatnonzero(log.first_ts() < cut_s)
        return pd.Index(log.users[codes], dtype=object), codes
    index = pd.Index(pd.unique(np.asarray(list(users), dtype=object)), dtype=object)
    return index, np.asarray(log.users.get_indexer(index), dtype=np.int64)


def _compute(
    log: EventLog,
    cutoff: pd.Timestamp,
    *,
    users: Sequence[str] | None,
    bgnbd: BGNBDParams | None,
    horizon_days: float,
    with_bgnbd: bool,
    block_events: int = DEFAULT_BLOCK_EVENTS,
    progress: bool = False,
    codes: np.ndarray | None = None,
    gap_survival: GapSurvival | None = None,
    with_paretonbd: bool = False,
) -> tuple[pd.DataFrame, BGNBDParams | None, GapSurvival | None]:
    """Features and the population statistics used (BG/NBD parameters, gap survival), each fitted on
    the same window when not given; ``codes`` (users by code in ``log``) overrides ``users``."""
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon_days must be > 0, got {horizon_days}", field="horizon_days")
    cut_s = _cutoff_seconds(cutoff)
    end_day = float(np.floor((cut_s - 1e-6) / DAY_S))
    index, codes = _target_users(log, cut_s, users, codes)
    n = len(index)
    ok = codes >= 0
    per_user = np.zeros(n, dtype=np.int64)
    per_user[ok] = log.start[codes[ok] + 1] - log.start[codes[ok]]
    names = FEATURE_NAMES + PARETONBD_COLUMNS if with_paretonbd else FEATURE_NAMES
    cols = {name: np.empty(n, dtype=np.float32) for name in names}
    x, tx, T = np.zeros(n), np.zeros(n), np.zeros(n)
    has_act = np.zeros(n, dtype=bool)
    blocks = list(itertools.pairwise(_block_bounds(per_user, block_events)))
    gaps = GapCounts.empty() if with_bgnbd and gap_survival is None else None
    for lo, hi in tqdm(blocks, desc="lifecycle features", unit="block", disable=not progress or len(blocks) < 2):
        idx, pos = log.rows(codes[lo:hi])
        keep = log.ts[idx] < cut_s
        idx, pos = idx[keep], pos[keep]
        f, bx = _block(log, idx, pos, hi - lo, cut_s, end_day, horizon_days, gaps)
        for name, v in f.items():
            cols[name][lo:hi] = v
        x[lo:hi], tx[lo:hi], T[lo:hi], has_act[lo:hi] = bx
    params = _bgnbd_scores(cols, bgnbd, (x, tx, T, has_act), horizon_days, with_bgnbd)
    if with_paretonbd:
        _paretonbd_scores(cols, (x, tx, T, has_act), horizon_days, with_bgnbd)
    survival = gap_survival if gaps is None else GapSurvival.fit(gaps)
    for name in ("gap_p_no_return_h", "gap_p_no_return_own_h"):
        cols[name][:] = np.float32(np.nan)
    if with_bgnbd and survival is not None and has_act.any():
        xa, txa, wait = x[has_act], tx[has_act], T[has_act] - tx[has_act]
        cols["gap_p_no_return_h"][has_act] = survival.p_no_return(wait, xa, horizon_days)
        cols["gap_p_no_return_own_h"][has_act] = survival.p_no_return_own(wait, xa, _mean_gap(txa, xa), horizon_days)
    out = pd.DataFrame(cols, index=index, copy=False)
    out.index.name = "user_id"
    return out, params, survival if with_bgnbd else None


def _block_bounds(per_user: np.ndarray, block_events: int) -> list[int]:
    """Block boundaries: consecutive users whose events add up to about ``block_events``."""
    n = len(per_user)
    bounds = [0]
    if n:
        csum = np.cumsum(per_user)
        while bounds[-1] < n:
            base = csum[bounds[-1] - 1] if bounds[-1] else 0
            nxt = int(np.searchsorted(csum, base + max(1, block_events), side="right"))
            bounds.append(min(n, max(nxt, bounds[-1] + 1)))
    return bounds


def _bgnbd_scores(
    cols: dict[str, np.ndarray],
    bgnbd: BGNBDParams | None,
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    horizon_days: float,
    with_bgnbd: bool,
) -> BGNBDParams | None:
    """Fill the BG/NBD columns (NaN without activity or ``with_bgnbd``), fitting the parameters when
    ``bgnbd`` is None; return the parameters used."""
    x, tx, T, has_act = inputs
    params = bgnbd
    nan32 = np.float32(np.nan)
    for name in ("bgnbd_p_alive", "bgnbd_expected_h", "bgnbd_p_zero_h"):
        cols[name][:] = nan32
    if with_bgnbd and has_act.any():
        if params is None:
            fit_rows = _fit_rows(has_act)
            params = fit_bgnbd(x[fit_rows], tx[fit_rows], T[fit_rows], unit_days=1.0)
        u = params.unit_days
        xa, txa, Ta = x[has_act], tx[has_act] / u, T[has_act] / u
        h = horizon_days / u
        cols["bgnbd_p_alive"][has_act] = p_alive(params, xa, txa, Ta)
        with np.errstate(all="ignore"):
            cols["bgnbd_expected_h"][has_act] = expected_purchases(params, h, xa, txa, Ta)
        cols["bgnbd_p_zero_h"][has_act] = p_zero(params, xa, txa, Ta, h)
    return params


def _fit_rows(has_act: np.ndarray) -> np.ndarray:
    """The active users a population fit reads: all, or a seeded sample of BGNBD_FIT_SAMPLE."""
    fit_rows = np.flatnonzero(has_act)
    if len(fit_rows) > BGNBD_FIT_SAMPLE:  # four population parameters: a seeded sample is plenty
        fit_rows = np.sort(np.random.default_rng(0).choice(fit_rows, BGNBD_FIT_SAMPLE, replace=False))
    return fit_rows


def _paretonbd_scores(
    cols: dict[str, np.ndarray],
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    horizon_days: float,
    with_bgnbd: bool,
) -> None:
    """Fill PARETONBD_COLUMNS like :func:`_bgnbd_scores`, from a fit on the same sample."""
    x, tx, T, has_act = inputs
    for name in PARETONBD_COLUMNS:
        cols[name][:] = np.float32(np.nan)
    if with_bgnbd and has_act.any():
        rows = _fit_rows(has_act)
        params = fit_paretonbd(x[rows], tx[rows], T[rows], unit_days=1.0)
        u = params.unit_days
        xa, txa, Ta = x[has_act], tx[has_act] / u, T[has_act] / u
        h = horizon_days / u
        cols["pnbd_p_alive"][has_act] = pnbd_p_alive(params, xa, txa, Ta)
        cols["pnbd_expected_h"][has_act] = pnbd_expected(params, h, xa, txa, Ta)
        cols["pnbd_p_zero_h"][has_act] = pnbd_p_zero(params, xa, txa, Ta, h)


@dataclass(frozen=True)
class _Rows:
    """One block's event rows, sorted by user position ``c`` then time, and the columns features read."""

    log: EventLog
    idx: np.ndarray  # row numbers in the log
    c: np.ndarray  # user position in the block
    n: int  # users in the block
    cut_s: float
    end_day: float
    s: np.ndarray  # event time, seconds
    typ: np.ndarray  # event type code
    age_d: np.ndarray  # days before the cut-off
    day: np.ndarray  # day number

    @classmethod
    def of(cls, log: EventLog, idx: np.ndarray, c: np.ndarray, n: int, cut_s: float, end_day: float) -> _Rows:
        s = log.ts[idx]
        typ = log.etype[idx].astype(np.int64)
        return cls(log, idx, c, n, cut_s, end_day, s, typ, (cut_s - s) / DAY_S, np.floor(s / DAY_S))

    def is_type(self, name: str) -> np.ndarray:
        return np.asarray(self.typ == EVENT_TYPES.index(name))

    def count(self, m: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per user: the rows where ``m`` holds, or the sum of their ``weights``."""
        w = None if weights is None else weights[m]
        return np.bincount(self.c[m], weights=w, minlength=self.n).astype(np.float64)


def _block(
    log: EventLog,
    idx: np.ndarray,
    c: np.ndarray,
    n: int,
    cut_s: float,
    end_day: float,
    horizon_days: float,
    gaps: GapCounts | None = None,
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Every feature but the population ones (BG/NBD, gap survival) for ``n`` users from their rows
    ``idx`` (sorted by user position ``c``, then time), plus the BG/NBD inputs (x, t_x, T, has
    activity); counts the block's gaps between active days into ``gaps`` when given."""
    r = _Rows.of(log, idx, c, n, cut_s, end_day)
    f: dict[str, np.ndarray] = {}
    act, ndays = _activity_features(r, f)
    _horizon_features(r, act, horizon_days, f)
    _purchase_features(r, f)
    _push_features(r, f)
    tc = np.bincount(
        c * len(EVENT_TYPES) + np.maximum(r.typ, 0),
        weights=(r.typ >= 0).astype(np.float64),
        minlength=n * len(EVENT_TYPES),
    ).reshape(n, len(EVENT_TYPES))
    for i, name in enumerate(EVENT_TYPES):
        f[f"n_{name}"] = tc[:, i]
    ac, aday = c[act], r.day[act]
    first_day = _first_in_group(ac, aday, n, np.nan)
    last_day = _last_in_group(ac, aday, n, np.nan)
    has_act = ndays > 0
    x = np.where(has_act, ndays - 1, 0.0)
    tx = np.where(has_act, last_day - first_day, 0.0)
    T = np.where(has_act, end_day - first_day, 0.0)
    f["bgnbd_repeat_days"] = np.where(has_act, x, np.nan)
    if gaps is not None:
        _count_gaps(ac, aday, has_act, x, tx, T - tx, gaps)
    return f, (x, tx, T, has_act)


def _count_gaps(
    ac: np.ndarray,
    aday: np.ndarray,
    has_act: np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    wait: np.ndarray,
    gaps: GapCounts,
) -> None:
    """Closed gaps between a user's distinct active days, each in the stratum of the repeats before it,
    and every active user's open wait (days since the last active day) in the stratum of all repeats."""
    new = _new_days(ac, aday)
    dc, dd = ac[new], aday[new]
    same = dc[1:] == dc[:-1] if len(dc) else np.zeros(0, bool)
    start = np.searchsorted(dc, dc, side="left")
    pos = np.arange(len(dc)) - start
    repeats_before = pos[:-1][same] if len(dc) else np.zeros(0, np.int64)
    g = (dd[1:] - dd[:-1])[same]
    gaps.add(g, stratum(repeats_before), wait[has_act], stratum(x[has_act]))
    # Time-scaled: each gap after the first over the mean of the user's earlier gaps.
    if len(dc):
        mean_before = (dd[:-1] - dd[start[:-1]])[same] / np.maximum(repeats_before, 1)
        second = repeats_before >= 1
        xa, wa = x[has_act], wait[has_act]
        mean_now = _mean_gap(tx[has_act], xa)
        rep = xa >= 1
        gaps.add_scaled(
            g[second] / mean_before[second],
            stratum(repeats_before[second]),
            wa[rep] / mean_now[rep],
            stratum(xa[rep]),
        )


def _activity_features(r: _Rows, f: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Recency, tenure, counts, active days, sessions, gaps, trends and hour entropy into ``f``;
    returns the activity rows (every event but system events) and each user's active days."""
    n, c, cut_s = r.n, r.c, r.cut_s
    act = ~np.isin(r.typ, [EVENT_TYPES.index(e) for e in SYSTEM_EVENTS])
    ac, as_, aday, aage = c[act], r.s[act], r.day[act], r.age_d[act]
    first_any = _first_in_group(c, r.s, n, np.nan)
    last_act = _last_in_group(ac, as_, n, np.nan)
    f["recency_days"] = (cut_s - last_act) / DAY_S
    f["tenure_days"] = (cut_s - first_any) / DAY_S
    n_all = np.bincount(ac, minlength=n).astype(np.float64)
    n_win: dict[int, np.ndarray] = {}
    for w in WINDOWS:
        n_win[w] = r.count(act & (r.age_d < w))
        f[f"n_events_{w}d"] = n_win[w]
    f["n_events_all"] = n_all
    for w in TREND_WINDOWS:
        if w not in n_win:
            n_win[w] = r.count(act & (r.age_d < w))
    ndays, gmean, gstd = _gap_stats(ac, aday, n)
    new_day = _new_days(ac, aday)
    for w in WINDOWS:
        f[f"active_days_{w}d"] = np.bincount(ac[new_day & (aday > r.end_day - w)], minlength=n).astype(np.float64)
    f["active_days_all"] = ndays
    new_sess = np.r_[True, (ac[1:] != ac[:-1]) | (as_[1:] - as_[:-1] > SESSION_GAP_S)] if len(ac) else new_day
    f["n_sessions_30d"] = np.bincount(ac[new_sess & (aage < 30)], minlength=n).astype(np.float64)
    f["n_sessions_all"] = np.bincount(ac[new_sess], minlength=n).astype(np.float64)
    f["gap_mean_days"], f["gap_std_days"] = gmean, gstd
    f["overdue_ratio"] = _safe_div(f["recency_days"], np.maximum(gmean, 1.0)) * np.where(np.isnan(gmean), np.nan, 1)
    tenure = f["tenure_days"]
    for w in TREND_WINDOWS:
        prev_len = tenure - w
        with np.errstate(divide="ignore", invalid="ignore"):
            trend = np.log((n_win[w] + 1.0) / w) - np.log((n_all - n_win[w] + 1.0) / np.maximum(prev_len, 1.0))
        f[f"trend_{w}d"] = np.where(prev_len > 0, trend, np.nan)
    log = r.log
    off = log.offset_min[r.idx][act].astype(np.float64) if log.offset_min is not None else np.zeros(len(ac))
    hour = (np.floor(((as_ + off * 60.0) % DAY_S) / 3600.0)).astype(np.int64)
    hc = np.bincount(ac * 24 + hour, minlength=n * 24).reshape(n, 24).astype(np.float32)
    tot = hc.sum(axis=1, keepdims=True)
    pr = hc / np.maximum(tot, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(pr > 0, pr * np.log(pr), 0.0), axis=1)
    f["hour_entropy"] = np.where(tot[:, 0] > 0, ent, np.nan)
    return act, ndays


def _horizon_features(r: _Rows, act: np.ndarray, horizon_days: float, f: dict[str, np.ndarray]) -> None:
    """The user's own record at the judged horizon H: the share of the past H-day windows (counted
    back from the cut-off, within their active life) with an activity, and recency in horizons.

    Why: churn is "no activity in the next H days"; how often this user already went a whole H
    days without activity is the empirical version of that label, whatever the rhythm of the log.
    """
    n, h = r.n, float(horizon_days)
    ac, aday = r.c[act], r.day[act]
    first_day = _first_in_group(ac, aday, n, np.nan)
    n_windows = np.floor((r.end_day - first_day + 1.0) / h)  # complete windows since the first activity
    k = np.floor((r.end_day - aday) / h)  # 0 = the last H days
    new = np.r_[True, (ac[1:] != ac[:-1]) | (k[1:] != k[:-1])] if len(ac) else np.zeros(0, bool)
    full = new & (k < np.nan_to_num(n_windows, nan=0.0)[ac])
    hit = np.bincount(ac[full], minlength=n).astype(np.float64)
    f["active_window_share_h"] = _safe_div(hit, n_windows)
    f["recency_over_h"] = f["recency_days"] / h
    f["horizon_days"] = np.full(n, h)


def _purchase_features(r: _Rows, f: dict[str, np.ndarray]) -> None:
    """Purchase counts, money, purchase rhythm, distinct items and the open cart into ``f``."""
    n, c, s, cut_s, log = r.n, r.c, r.s, r.cut_s, r.log
    value = log.value[r.idx] if log.value is not None else np.zeros(len(r.idx))
    pur = r.is_type("purchase")
    for w in WINDOWS:
        f[f"n_purchases_{w}d"] = r.count(pur & (r.age_d < w))
    f["n_purchases_all"] = r.count(pur)
    for w in (30, 90, 365):
        f[f"money_{w}d"] = r.count(pur & (r.age_d < w), value)
    f["money_all"] = r.count(pur, value)
    f["avg_order_value"] = _safe_div(f["money_all"], f["n_purchases_all"])
    pc, ps = c[pur], s[pur]
    last_p = _last_in_group(pc, ps, n, np.nan)
    f["days_since_purchase"] = (cut_s - last_p) / DAY_S
    _, pmean, pstd = _gap_stats(pc, r.day[pur], n)
    f["purchase_gap_mean_days"], f["purchase_gap_std_days"] = pmean, pstd
    f["purchase_overdue_ratio"] = _safe_div(f["days_since_purchase"], np.maximum(pmean, 1.0)) * np.where(
        np.isnan(pmean), np.nan, 1
    )
    item = log.item[r.idx]
    has = item >= 0
    if has.any():
        width = int(item.max()) + 1
        pairs = c[has] * width + item[has]
        pairs.sort()  # a plain sort: numpy's hash-based unique is several times slower on 10M pairs
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
        f["n_distinct_items"] = np.bincount(pairs // width, minlength=n).astype(np.float64)
    else:
        f["n_distinct_items"] = np.zeros(n)
    lp_filled = np.nan_to_num(last_p, nan=-np.inf)
    after = s > lp_filled[c]
    adds = r.count(r.is_type("add_to_cart") & after)
    removes = r.count(r.is_type("remove_from_cart") & after)
    f["cart_open_items"] = np.maximum(adds - removes, 0.0)
    cart = r.is_type("add_to_cart")
    f["hours_since_cart"] = (cut_s - _last_in_group(c[cart], s[cart], n, np.nan)) / 3600.0


def _push_features(r: _Rows, f: dict[str, np.ndarray]) -> None:
    """Pushes delivered, open / click rates, dismissals, opens of the last five and unsubscribes into ``f``."""
    n, c, s = r.n, r.c, r.s
    deliv = r.is_type("push_delivered")
    n_del = r.count(deliv)
    f["push_delivered_all"] = n_del
    f["push_delivered_30d"] = r.count(deliv & (r.age_d < 30))
    f["push_open_rate"] = _safe_div(r.count(r.is_type("push_opened")), n_del)
    f["push_click_rate"] = _safe_div(r.count(r.is_type("push_clicked")), n_del)
    f["push_dismissed_all"] = r.count(r.is_type("push_dismissed"))
    dc, ds = c[deliv], s[deliv]
    thresh = np.full(n, np.inf)
    if len(dc):
        start = np.searchsorted(dc, dc, side="left")
        from_end = n_del[dc].astype(np.int64) - 1 - (np.arange(len(dc)) - start)
        fifth = from_end == np.minimum(4, n_del[dc].astype(np.int64) - 1)
        thresh[dc[fifth]] = ds[fifth]
    f["pushes_last5"] = np.minimum(n_del, 5.0)
    f["opens_last5"] = np.minimum(r.count(r.is_type("push_opened") & (s >= thresh[c])), f["pushes_last5"])
    f["unsubscribed"] = (r.count(r.is_type("unsubscribe")) > 0).astype(np.float64)


def fit_window_bgnbd(events: pd.DataFrame | EventLog, cutoff: pd.Timestamp) -> BGNBDParams:
    """BG/NBD on activity days before ``cutoff``, in days: the same (x, t_x, T) compute_features uses."""
    return fit_window_population(events, cutoff)[0]


def fit_window_population(events: pd.DataFrame | EventLog, cutoff: pd.Timestamp) -> tuple[BGNBDParams, GapSurvival]:
    """The population statistics a served model keeps, from the log before ``cutoff``: BG/NBD on
    activity days (the same (x, t_x, T) compute_features uses) and the gap survival.

    The BG/NBD fit reads at most BGNBD_FIT_SAMPLE active customers, so on logs with more than
    BGNBD_PRESAMPLE_USERS users only a seeded sample of users is summarised (a million users' full
    feature pass would cost minutes for a few numbers); smaller logs are summarised whole.
    """
    log = as_event_log(events)
    codes = None
    present = np.flatnonzero(log.first_ts() < _cutoff_seconds(cutoff))
    if len(present) > BGNBD_PRESAMPLE_USERS:
        pick = np.random.default_rng(0).choice(len(present), BGNBD_PRESAMPLE_USERS // 2, replace=False)
        codes = present[np.sort(pick)]
    _, params, survival = _compute(log, cutoff, users=None, codes=codes, bgnbd=None, horizon_days=30.0, with_bgnbd=True)
    if params is None or survival is None:
        raise InvalidArgument(f"no activity before {cutoff} to fit BG/NBD on", field="cutoff")
    return params, survival
