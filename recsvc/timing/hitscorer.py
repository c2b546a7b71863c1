"""A learned choice of the send hour: LightGBM scores each (user, local hour) by the chance that the
user's first activity after an instant falls within one hour of it (the hit@1h event itself).

Why: the habit profile is one setting for every user. How much a user's first activity after an
instant follows the hour of the day it is then, how long they have been idle, or the few days
they were active last, differs between users in ways one setting cannot follow. The scorer reads
several habit profiles at once (the first activity of each day and every activity, with and
without fading), the tuned profile itself, the population's, the user's idleness and each hour's
distance from the instant's clock time and from the user's last hour.

It learns from the habit profile's pseudo cut-offs and serves only when it beats the tuned habit
profile on *users* held out of its training by ``hit_scorer_min_z`` standard errors. Held-out
users, not a held-out pseudo cut-off: an idle user's first activity after several pseudo cut-offs
is the same event, so a later pseudo cut-off would judge the scorer on labels it was trained on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from recsvc.timing.config import TimingConfig
from recsvc.timing.dayprofile import (
    HourCounts,
    ProfileParams,
    _dedupe_weights,
    _paired_z,
    _Pseudo,
    _pseudo_cutoffs,
    hour_counts,
    profile,
)
from recsvc.timing.history import EventFrame
from recsvc.timing.hours import circular_distance, circular_window, pick_hours

logger = logging.getLogger(__name__)

# The profiles read: (event set, recency half-life in days).
PROFILES: tuple[tuple[str, float], ...] = (
    ("first", 0.0),
    ("first", 21.0),
    ("first", 60.0),
    ("all", 0.0),
    ("all", 21.0),
    ("sessions", 0.0),
)
_HOURS = np.arange(24)
_PREDICT_USERS = 20_000  # users per prediction chunk: (users x 24 x features) float32 at a time
_MAX_ROUNDS, _EARLY_STOP, _MIN_ROUNDS = 500, 30, 20


_TUNED_PICK = 2  # the feature column marking the tuned profile's pick (one hour per user)


def feature_names() -> list[str]:
    names = ["tuned_window", "tuned_window_rel", "tuned_pick"]
    for events, half_life in PROFILES:
        tag = f"{events}_{half_life:g}"
        names += [f"window_{tag}", f"window_rel_{tag}", f"share_{tag}", f"population_window_{tag}"]
        if half_life == 0:
            names.append(f"log_count_{events}")
    return [*names, "log_idle_days", "hours_ahead", "hours_from_last"]


def _window_columns(prof: np.ndarray) -> list[np.ndarray]:
    w = circular_window(prof, 1)
    top = w.max(axis=1, keepdims=True)
    return [w, w / np.clip(top, 1e-12, None)]


@dataclass(frozen=True)
class _Instant:
    """What the features read of every user as of one instant: one pass over the events per
    profile, shared by every chunk of users whose features are taken at that instant."""

    asof: float
    tuned: ProfileParams
    tuned_counts: HourCounts
    counts: tuple[HourCounts, ...]  # one per PROFILES entry
    last_s: np.ndarray  # time of each user's last event before the instant (NaN if none)
    offset: np.ndarray  # each user's local offset (minutes) at that event


def _instant(fr: EventFrame, asof: float, tuned: ProfileParams, cfg: TimingConfig) -> _Instant:
    before = fr.secs < asof
    last_s = np.full(len(fr.user_ids), np.nan)
    last_s[fr.codes[before]] = fr.secs[before]  # sorted by user then time: the last write wins
    offset = np.zeros(len(fr.user_ids))
    offset[fr.codes[before]] = fr.offset[before]
    return _Instant(
        asof,
        tuned,
        hour_counts(fr, asof, tuned.events, tuned.half_life_days, cfg),
        tuple(hour_counts(fr, asof, events, half_life, cfg) for events, half_life in PROFILES),
        last_s,
        offset,
    )


def _features(at: _Instant, rows: np.ndarray) -> np.ndarray:
    n = len(rows)
    tuned_prof = profile(at.tuned_counts.take(rows), at.tuned)
    cols = _window_columns(tuned_prof)
    cols.append((_HOURS[None, :] == pick_hours(tuned_prof)[:, None]).astype(np.float64))
    last_hour = np.full(n, -1, dtype=np.int64)
    for (events, half_life), hc in zip(PROFILES, at.counts, strict=True):
        counts = hc.counts[rows]
        total = counts.sum(axis=1, keepdims=True)
        share = counts / np.clip(total, 1e-12, None)
        cols += _window_columns(share)
        cols += [share, np.broadcast_to(circular_window(hc.pop[None, :], 1)[0], (n, 24))]
        if half_life == 0:
            cols.append(np.broadcast_to(np.log1p(total), (n, 24)))
        if events == "first" and half_life == 0:
            last_hour = hc.last_hour[rows]
    idle = np.log1p(np.clip((at.asof - at.last_s[rows]) / 86400.0, 0.0, None))
    clock = ((at.asof + at.offset[rows] * 60.0) // 3600.0) % 24
    cols.append(np.broadcast_to(np.nan_to_num(idle, nan=-1.0)[:, None], (n, 24)))
    cols.append((_HOURS[None, :] - clock[:, None]) % 24)
    cols.append(np.where(last_hour[:, None] >= 0, circular_distance(_HOURS[None, :], last_hour[:, None]), -1))
    return np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=-1)


def hour_features(fr: EventFrame, asof: float, rows: np.ndarray, tuned: ProfileParams, cfg: TimingConfig) -> np.ndarray:
    """(len(rows), 24, features) of the users ``rows`` as of ``asof`` (events strictly before it)."""
    return _features(_instant(fr, asof, tuned, cfg), rows)


def _params(cfg: TimingConfig) -> dict[str, Any]:
    return {
        "objective": "binary",
        "num_leaves": 31,
        "learning_rate": 0.05,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "seed": cfg.seed,
        "deterministic": True,
        "num_threads": 2,
        "verbose": -1,
    }


@dataclass
class _Examples:
    """Pseudo cut-off examples: features (examples x 24 x features), hit labels (examples x 24), the
    truth hour and user of each, the tuned profile's pick and whether it hit, and weights that count a label event
    repeated across pseudo cut-offs once."""

    x: np.ndarray
    hits: np.ndarray
    truth: np.ndarray
    users: np.ndarray
    tuned_hit: np.ndarray
    weight: np.ndarray


def _examples(fr: EventFrame, pseudo: list[_Pseudo], tuned: ProfileParams, cfg: TimingConfig) -> _Examples | None:
    """Every pseudo cut-off example, at most ``hit_scorer_max_examples`` of them (a seeded sample)."""
    rng = np.random.default_rng(cfg.seed)
    total = sum(len(p.rows) for p in pseudo)
    keep_share = min(1.0, cfg.hit_scorer_max_examples / max(total, 1))
    xs, users, truths, secs, picks = [], [], [], [], []
    for ps in pseudo:
        take = rng.random(len(ps.rows)) < keep_share
        rows = ps.rows[take]
        if not len(rows):
            continue
        x = hour_features(fr, ps.asof, rows, tuned, cfg)
        xs.append(x)
        picks.append(np.argmax(x[:, :, _TUNED_PICK], axis=1))
        users.append(rows)
        truths.append(ps.truth[take])
        secs.append(ps.truth_secs[take])
    if not xs:
        return None
    truth = np.concatenate(truths)
    return _Examples(
        x=np.concatenate(xs),
        hits=circular_distance(_HOURS[None, :], truth[:, None]) <= 1,
        truth=truth,
        users=np.concatenate(users),
        tuned_hit=circular_distance(np.concatenate(picks), truth) <= 1,
        weight=_dedupe_weights(np.concatenate(users), np.concatenate(secs)),
    )


def _dataset(ex: _Examples, mask: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    x = ex.x[mask]
    return lgb.Dataset(
        x.reshape(-1, x.shape[-1]),
        ex.hits[mask].ravel().astype(np.float64),
        weight=np.repeat(ex.weight[mask], 24),
        feature_name=feature_names(),
        reference=reference,
        free_raw_data=True,
    )


def _predict(booster: lgb.Booster, x: np.ndarray, rounds: int) -> np.ndarray:
    return np.asarray(booster.predict(x.reshape(-1, x.shape[-1]), num_iteration=rounds)).reshape(len(x), 24)


def fit_hit_scorer(
    fr: EventFrame, cut_s: float, tuned: ProfileParams, cfg: TimingConfig
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(n, 24) hit scores of every user of ``fr`` as of the cut-off when the scorer beats the tuned
    habit profile on held-out users, else None; and what was measured."""
    pseudo = _pseudo_cutoffs(fr, cut_s, cfg)
    n_examples = sum(len(p.rows) for p in pseudo)
    if n_examples < cfg.hit_scorer_min_examples:
        return None, {"used": False, "reason": f"too few pseudo-cut-off examples ({n_examples})"}
    ex = _examples(fr, pseudo, tuned, cfg)
    if ex is None:
        return None, {"used": False, "reason": "no pseudo-cut-off example"}
    # Two user folds: one trains (and picks the rounds on the other), the other judges.
    held = np.random.default_rng(cfg.seed + 1).integers(0, 2, len(fr.user_ids))[ex.users] == 1
    train = _dataset(ex, ~held)
    valid = _dataset(ex, held, reference=train)
    probe = lgb.train(
        _params(cfg),
        train,
        num_boost_round=_MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(_EARLY_STOP, verbose=False)],
    )
    rounds = max(int(probe.best_iteration or _MAX_ROUNDS), _MIN_ROUNDS)
    scorer_hit = circular_distance(np.argmax(_predict(probe, ex.x[held], rounds), axis=1), ex.truth[held]) <= 1
    gain, z = _paired_z(scorer_hit.astype(np.float64) - ex.tuned_hit[held], ex.weight[held])
    w = ex.weight[held]
    report: dict[str, Any] = {
        "validation": {
            "held_out_examples": int(held.sum()),
            "scorer_hit@1h": float(scorer_hit @ w / w.sum()),
            "tuned_profile_hit@1h": float(ex.tuned_hit[held] @ w / w.sum()),
            "gain": gain,
            "z": z if np.isfinite(z) else 1e9,
        },
        "rounds": rounds,
        "n_examples": len(ex.users),
    }
    if not z >= cfg.hit_scorer_min_z:
        return None, {**report, "used": False, "reason": "does not beat the tuned habit profile on held-out users"}
    booster = lgb.train(_params(cfg), _dataset(ex, np.ones(len(ex.users), dtype=bool)), num_boost_round=rounds)
    scores = np.zeros((len(fr.user_ids), 24), dtype=np.float32)
    has_history = np.zeros(len(fr.user_ids), dtype=bool)
    has_history[fr.codes[fr.secs < cut_s]] = True
    users = np.flatnonzero(has_history)
    at = _instant(fr, cut_s, tuned, cfg)
    for start in range(0, len(users), _PREDICT_USERS):
        rows = users[start : start + _PREDICT_USERS]
        scores[rows] = _predict(booster, _features(at, rows), rounds)
    logger.info("hit scorer serves: held-out gain %+.4f (z %.1f) over the tuned habit profile", gain, z)
    return scores, {**report, "used": True, "reason": "beats the tuned habit profile on held-out users"}
