"""The empirical-Bayes hour-of-week profile: each user's counts shrunk toward their segment's curve
and each segment's toward the population's, then smoothed.

Segments are the city when the users table gives one, else the time zone, else the written UTC
offset. Prior strengths maximise the Dirichlet-multinomial marginal likelihood of the counts; the
posterior is smoothed over neighbouring hours (circularly, Sunday 23h next to Monday 0h) and
partly pooled across weekdays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from recsvc.timing.config import TimingConfig
from recsvc.timing.history import EventFrame, UserState
from recsvc.timing.hours import HOURS_PER_WEEK


def smooth(p: np.ndarray, cfg: TimingConfig) -> np.ndarray:
    """Circular neighbour smoothing over the week ring plus partial weekday pooling; rows sum to 1."""
    q = p + cfg.neighbour_weight * (np.roll(p, 1, axis=-1) + np.roll(p, -1, axis=-1))
    if cfg.weekday_pooling > 0:
        shape = (*q.shape[:-1], 7, 24)
        day = q.reshape(shape).mean(axis=-2)
        q = (1 - cfg.weekday_pooling) * q + cfg.weekday_pooling * np.tile(day, 7)
    s = q.sum(axis=-1, keepdims=True)
    return np.where(s > 0, q / np.where(s > 0, s, 1.0), 1.0 / q.shape[-1])


def prior_strength(counts: np.ndarray, prior: np.ndarray, cfg: TimingConfig, seed: int) -> float:
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


def shrink(counts: np.ndarray, prior: np.ndarray, strength: float, cfg: TimingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed posterior curves of rows of counts under a Dirichlet prior of the given strength,
    and each row's own share ``n / (n + strength)`` of its curve."""
    n = counts.sum(axis=1, keepdims=True)
    week = smooth((counts + strength * prior) / (n + strength), cfg)
    return week, (n / (n + strength))[:, 0]


@dataclass
class Posterior:
    week: np.ndarray  # (n, 168) smoothed posterior, rows sum to 1
    seg_week: np.ndarray  # (n_seg, 168)
    pop_week: np.ndarray  # (168,)
    a_user: float
    a_seg: float
    history: np.ndarray  # (n,) n/(n+A)


def posterior(st: UserState, seg_codes: np.ndarray, n_seg: int, cfg: TimingConfig) -> Posterior:
    """Population, segment and user curves of the state's counts, each shrunk toward the one above."""
    counts = st.counts
    pop = counts.sum(axis=0)
    pop_week = smooth(pop[None, :] + 1e-9, cfg)[0]
    seg_counts = np.zeros((n_seg, HOURS_PER_WEEK))
    np.add.at(seg_counts, seg_codes, counts)
    a_seg = prior_strength(seg_counts, pop_week, cfg, cfg.seed) if n_seg > 1 else cfg.max_prior_strength
    seg_week, _ = shrink(seg_counts, pop_week, a_seg, cfg)
    prior = seg_week[seg_codes]
    a_user = prior_strength(counts, prior, cfg, cfg.seed + 1)
    week, history = shrink(counts, prior, a_user, cfg)
    return Posterior(week, seg_week, pop_week, a_user, a_seg, history)


def segments(fr: EventFrame, users: pd.DataFrame | None, zones: Mapping[str, str]) -> tuple[list[str], np.ndarray]:
    """Segment names (sorted) and each user's segment code: ``city:<name>`` when the users table
    gives a city, else ``tz:<zone>``, else ``offset:<minutes>`` of the user's latest event."""
    city: dict[str, str] = {}
    if users is not None and "city" in users.columns:
        for uid, c in zip(users["user_id"].astype(str), users["city"].astype("string").fillna(""), strict=True):
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
