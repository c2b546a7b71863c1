"""The habit profile: each user's hour-of-day profile of their own activities, recency weighted,
shrunk toward the population, smoothed over neighbouring hours and pulled toward the hour of the
user's last session; its settings chosen on pseudo cut-offs before the cut-off.

Why this shape: the strongest simple predictor of the hour a user shows up next is the user's own
habit read with the metric's +/- 1 h window. Everything added to it (fading old habits, borrowing
from the population when the user has few visits, a wider kernel, the last session's hour) helps
on some logs and hurts on others, so each fit picks its settings on its own log: pseudo cut-offs
stepped back from the cut-off, labelled with each user's first activity after them (never with
events at or after the cut-off). The plain habit (:data:`PLAIN`, the user's window mode) is the
fallback: a tuned profile serves only when tuning beats it out of fold (users held out of the
choice) by ``min_validation_z`` standard errors.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsvc.timing.config import TimingConfig
from recsvc.timing.history import EventFrame, first_after, recency_weight
from recsvc.timing.hours import circular_distance, pick_hours

EVENT_SETS: tuple[str, ...] = ("all", "sessions", "weighted", "first")
DAY_S = 86400.0
FOLDS = 5  # user folds of the out-of-fold check of the tuning
# Share of the population's hour profile in the served hour distribution (chosen by log-loss).
POP_SHARES: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
# Share of the user's own shrunk curve beside the habit profile (sendtime.CURVE_SHARE); the
# population's profile stands in for that curve when the log-loss of the pop shares is measured.
HABIT_CURVE_SHARE = 0.1


@dataclass(frozen=True)
class ProfileParams:
    """One setting of the habit profile.

    ``events``: which activities count: "all" (one each), "sessions" (session starts only),
    "weighted" (the config's event-type weights, in-session events times ``in_session_weight``) or
    "first" (only the user's first activity in each 24 h period ending at the as-of instant, see
    :func:`first_in_day`).
    ``half_life_days``: recency half-life (0 = no fading). ``strength``: pseudo-count of the
    population profile added to the user's counts. ``width``: standard deviation (hours) of the
    circular Gaussian kernel (0 = none). ``last_weight``: mass added at the hour of the user's last
    session, relative to a profile summing to 1.
    """

    events: str = "all"
    half_life_days: float = 0.0
    strength: float = 0.0
    width: float = 0.0
    last_weight: float = 0.0


PLAIN = ProfileParams()  # the user's own window mode: every activity counted once, nothing else


def grid() -> list[ProfileParams]:
    """The settings tried on pseudo cut-offs, the plain profile first (ties go to the earlier one)."""
    out = [
        ProfileParams(e, hl, s, w, lw)
        for e, hl, s, w, lw in itertools.product(
            EVENT_SETS, (0.0, 60.0, 21.0, 7.0), (0.0, 1.0, 4.0), (0.0, 0.75, 1.5), (0.0, 0.25, 1.0, 4.0)
        )
    ]
    out.remove(PLAIN)
    return [PLAIN, *out]


def circular_kernel(width: float) -> np.ndarray:
    """(24,) Gaussian weights of hour offsets 0..23 on the day's circle, peak 1 (width 0: identity)."""
    d = circular_distance(np.arange(24), 0).astype(np.float64)
    if width <= 0:
        return (d == 0).astype(np.float64)
    return np.asarray(np.exp(-0.5 * (d / width) ** 2))


def smooth_hours(p: np.ndarray, width: float) -> np.ndarray:
    """Circular convolution of rows of 24 hourly values with :func:`circular_kernel` (weights
    below 1e-6 dropped), as one product with the kernel's circulant matrix: the tuning grid smooths
    thousands of profiles per fit."""
    k = circular_kernel(width)
    k = np.where(k > 1e-6, k, 0.0)
    hours = np.arange(24)
    circulant = k[(hours[None, :] - hours[:, None]) % 24]  # (p @ C)[j] = sum_s k[s] p[j - s]
    return np.asarray(np.asarray(p, dtype=np.float64) @ circulant)


def shrink_to(counts: np.ndarray, pop: np.ndarray, strength: float) -> np.ndarray:
    """Rows of counts plus ``strength`` pseudo-counts spread as ``pop``, normalised; a row without
    counts (and strength 0) becomes ``pop``."""
    n = counts.sum(axis=-1, keepdims=True)
    post = counts + strength * pop
    total = n + strength
    return np.where(total > 0, post / np.where(total > 0, total, 1.0), pop)


def first_in_day(codes: np.ndarray, secs: np.ndarray, asof: float) -> np.ndarray:
    """Whether each event (sorted by user then time, all before ``asof``) is its user's first in
    its 24 h period [asof - (j + 1) days, asof - j days).

    Why: what is judged (and what a send at a given time needs) is the hour of the user's *first*
    activity after an instant, not the hour of a random activity. A user active all afternoon and
    evening comes back first in the afternoon; counting the first activity after each past day's
    same instant gives that profile with one example per active day, where pseudo cut-offs give
    one per week.
    """
    day = np.floor((asof - secs) / DAY_S).astype(np.int64)
    first = np.ones(len(codes), dtype=bool)
    first[1:] = (codes[1:] != codes[:-1]) | (day[1:] != day[:-1])
    return first


@dataclass
class HourCounts:
    """Per-user hour-of-day counts of activities before one instant, for one event set and half-life."""

    counts: np.ndarray  # (n, 24)
    last_hour: np.ndarray  # (n,) hour of the last counted activity, -1 if none
    pop: np.ndarray  # (24,) every user's counts pooled, normalised (uniform when there are none)

    def take(self, rows: np.ndarray) -> HourCounts:
        """The given users' rows; the population stays everyone's."""
        return HourCounts(self.counts[rows], self.last_hour[rows], self.pop)


def hour_counts(fr: EventFrame, asof: float, events: str, half_life_days: float, cfg: TimingConfig) -> HourCounts:
    """Counts of ``fr``'s events strictly before ``asof`` by local hour of day."""
    n = len(fr.user_ids)
    m = fr.secs < asof
    if events == "sessions":
        m &= fr.session_start
    elif events == "first":
        idx = np.flatnonzero(m)
        m = np.zeros_like(m)
        m[idx[first_in_day(fr.codes[idx], fr.secs[idx], asof)]] = True
    w = np.ones(int(m.sum()))
    if events == "weighted":
        w = fr.weight[m]  # type weight x in-session weight (history.event_frame)
    if half_life_days > 0:
        w = w * recency_weight(asof, fr.secs[m], half_life_days)
    codes, hod = fr.codes[m], fr.how[m] % 24
    counts = np.bincount(codes * 24 + hod, weights=w, minlength=n * 24).reshape(n, 24)
    last = np.full(n, -1, dtype=np.int64)
    last[codes] = hod  # sorted by user then time: the last write per user wins
    pooled = counts.sum(axis=0)
    pop = pooled / pooled.sum() if pooled.sum() > 0 else np.full(24, 1.0 / 24)
    return HourCounts(counts, last, pop)


def _smoothed(hc: HourCounts, strength: float, width: float) -> np.ndarray:
    """The profile before the pull to the last hour: shrunk to the population, then smoothed."""
    prof = shrink_to(hc.counts, hc.pop, strength)
    if width > 0:
        prof = smooth_hours(prof, width)
        prof = prof / np.clip(prof.sum(axis=1, keepdims=True), 1e-12, None)
    return np.asarray(prof)


def _pulled_to_last(prof: np.ndarray, last_hour: np.ndarray, last_weight: float) -> np.ndarray:
    """``prof`` with ``last_weight`` more mass at each user's last hour, normalised (a new array)."""
    if last_weight <= 0:
        return prof
    out = prof.copy()
    has = last_hour >= 0
    out[np.flatnonzero(has), last_hour[has]] += last_weight
    return np.asarray(out / out.sum(axis=1, keepdims=True))


def profile(hc: HourCounts, p: ProfileParams) -> np.ndarray:
    """(n, 24) hour-of-day profile of each user (rows sum to 1) under the setting ``p``."""
    return _pulled_to_last(_smoothed(hc, p.strength, p.width), hc.last_hour, p.last_weight)


@dataclass
class _Pseudo:
    """Users judged at one pseudo cut-off: history before it, a first activity after it."""

    asof: float
    rows: np.ndarray
    truth: np.ndarray
    truth_secs: np.ndarray


def _pseudo_cutoffs(fr: EventFrame, cut_s: float, cfg: TimingConfig) -> list[_Pseudo]:
    """Pseudo cut-offs one step apart, the first one step before the cut-off; labels are the local
    hour of each user's first activity between the pseudo cut-off and the real one."""
    step = cfg.day_profile_step_days * 86400.0
    first_s = float(fr.secs.min()) if len(fr.secs) else cut_s
    n = len(fr.user_ids)
    has_before = np.zeros(n, dtype=bool)
    out = []
    for k in range(1, cfg.day_profile_cutoffs + 1):
        c = cut_s - k * step
        if c <= first_s + step:
            break
        has_before[:] = False
        has_before[fr.codes[fr.secs < c]] = True
        truth, when = first_after(fr, c, cut_s, n)
        rows = np.flatnonzero(has_before & (truth >= 0))
        if len(rows):
            out.append(_Pseudo(c, rows, truth[rows], when[rows]))
    return out


def _hits_by_setting(
    fr: EventFrame, pseudo: list[_Pseudo], settings: list[ProfileParams], cfg: TimingConfig
) -> np.ndarray:
    """(n_settings, n_examples) whether each setting's hour is within one hour of each label."""
    out = np.zeros((len(settings), sum(len(p.rows) for p in pseudo)), dtype=bool)
    start = 0
    for ps in pseudo:
        stop = start + len(ps.rows)
        counts: dict[tuple[str, float], HourCounts] = {}
        smoothed: dict[tuple[str, float, float, float], np.ndarray] = {}
        for i, s in enumerate(settings):
            key = (s.events, s.half_life_days)
            if key not in counts:
                counts[key] = hour_counts(fr, ps.asof, s.events, s.half_life_days, cfg).take(ps.rows)
            shape = (*key, s.strength, s.width)  # shared by every last-hour pull
            if shape not in smoothed:
                smoothed[shape] = _smoothed(counts[key], s.strength, s.width)
            pred = pick_hours(_pulled_to_last(smoothed[shape], counts[key].last_hour, s.last_weight))
            out[i, start:stop] = circular_distance(pred, ps.truth) <= 1
        start = stop
    return out


def _dedupe_weights(users: np.ndarray, truth_secs: np.ndarray) -> np.ndarray:
    """1/count for examples sharing a user and a label event: a user idle across several pseudo
    cut-offs gives the same label at each, and should not count several times."""
    key = pd.Series(users.astype(np.float64) * 1e10 + truth_secs)
    return np.asarray(1.0 / key.map(key.value_counts()).to_numpy(dtype=np.float64))


def _paired_z(diff: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean of per-example differences and its z (mean / standard error)."""
    if w.sum() <= 0:
        return 0.0, 0.0
    wn = w / w.sum()
    mean = float(np.sum(wn * diff))
    var = float(np.sum(wn * (diff - mean) ** 2))
    n_eff = float(w.sum() ** 2 / np.sum(w**2))
    se = math.sqrt(var / n_eff) if n_eff > 1 and var > 0 else 0.0
    if se == 0.0:
        return mean, (math.inf if mean > 0 else 0.0)
    return mean, mean / se


def _best(hits: np.ndarray, w: np.ndarray, mask: np.ndarray) -> int:
    """The setting with the highest weighted hit rate on the masked examples; ties go to the
    earlier setting, so the plain profile wins them."""
    return int(np.argmax(hits[:, mask] @ w[mask]))


def served_mix(profile_: np.ndarray, pop: np.ndarray, pop_share: float) -> np.ndarray:
    """The served hour distribution's shape: the habit profile beside the population's profile
    (standing in for the user's curve), then ``pop_share`` more of the population's."""
    base = (1.0 - HABIT_CURVE_SHARE) * profile_ + HABIT_CURVE_SHARE * pop
    return np.asarray((1.0 - pop_share) * base + pop_share * pop)


def choose_pop_share(
    fr: EventFrame, pseudo: list[_Pseudo], params: ProfileParams, w: np.ndarray, cfg: TimingConfig
) -> tuple[float, dict[str, float]]:
    """The :data:`POP_SHARES` entry whose served distribution gives the pseudo cut-offs' labels the
    lowest weighted log-loss, and every share's log-loss.

    Why: the habit profile is chosen for its best hour, not for its probabilities. A plain habit of a
    user with a few bursts of activity gives almost no mass to hours the user did not use yet, so
    its log-loss can be far worse than the population's; how much of the population to add is a
    question of the log, answered on the same pseudo cut-offs. The best hour does not depend on it.
    """
    truth = np.concatenate([p.truth for p in pseudo])
    dists = []
    for ps in pseudo:
        prof = profile(hour_counts(fr, ps.asof, params.events, params.half_life_days, cfg).take(ps.rows), params)
        pop = hour_counts(fr, ps.asof, "all", 0.0, cfg).pop
        dists.append((prof, np.broadcast_to(pop, prof.shape)))
    losses: dict[str, float] = {}
    best = (math.inf, 0.0)
    for share in POP_SHARES:
        d = np.concatenate([served_mix(prof, pop, share) for prof, pop in dists])
        p = np.clip(d[np.arange(len(truth)), truth], 1e-9, None)
        loss = float(-(w * np.log(p)).sum() / w.sum())
        losses[str(share)] = round(loss, 4)
        if loss < best[0] - 1e-9:
            best = (loss, share)
    return best[1], losses


def choose(fr: EventFrame, cut_s: float, cfg: TimingConfig) -> tuple[ProfileParams, dict[str, Any]]:
    """The setting to serve and what was measured.

    The best setting on every pseudo cut-off example serves only when the *procedure* of picking
    it beats :data:`PLAIN` out of sample: users are split into folds, each fold is predicted by
    the setting picked on the other folds, and those out-of-fold hits must beat the plain habit's
    by ``cfg.min_validation_z`` standard errors. Judging the picked setting on the data that picked
    it would favour it; this does not.
    """
    pseudo = _pseudo_cutoffs(fr, cut_s, cfg)
    n_examples = sum(len(p.rows) for p in pseudo)
    if n_examples < cfg.min_training_examples:
        return PLAIN, {"used": False, "reason": f"too few pseudo-cut-off examples ({n_examples})"}
    users = np.concatenate([p.rows for p in pseudo])
    w = _dedupe_weights(users, np.concatenate([p.truth_secs for p in pseudo]))
    fold = np.random.default_rng(cfg.seed).integers(0, FOLDS, len(fr.user_ids))[users]
    settings = grid()
    hits = _hits_by_setting(fr, pseudo, settings, cfg).astype(np.float64)
    out_of_fold = np.zeros(len(users))
    for f in range(FOLDS):
        held = fold == f
        out_of_fold[held] = hits[_best(hits, w, ~held), held]
    gain, z = _paired_z(out_of_fold - hits[0], w)
    best = _best(hits, w, np.ones(len(users), dtype=bool))
    used = best != 0 and z >= cfg.min_validation_z
    chosen = settings[best] if used else PLAIN
    pop_share, loss_by_share = choose_pop_share(fr, pseudo, chosen, w, cfg)
    report = {
        "used": bool(used),
        "params": asdict(chosen),
        "best_setting": asdict(settings[best]),
        "reason": (
            "tuning beats the plain habit out of fold"
            if used
            else "tuning does not beat the plain habit out of fold by min_validation_z"
        ),
        "validation": {
            "plain_hit@1h": float(hits[0] @ w / w.sum()),
            "tuned_out_of_fold_hit@1h": float(out_of_fold @ w / w.sum()),
            "best_in_sample_hit@1h": float(hits[best] @ w / w.sum()),
            "gain": gain,
            "z": z if math.isfinite(z) else 1e9,
            "folds": FOLDS,
        },
        "pseudo_cutoffs": len(pseudo),
        "n_examples": n_examples,
        "n_settings": len(settings),
        "pop_share": pop_share,
        "log_loss_by_pop_share": loss_by_share,
    }
    return chosen, report


def fit_day_profile(fr: EventFrame, cut_s: float, cfg: TimingConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """(n, 24) habit profile of every user of ``fr`` as of the cut-off, and the fit's report, which
    holds the population's hour profile (``pop_hours``) and its share in the served distribution
    (``pop_share``, 0 when too few pseudo cut-off examples choose it)."""
    params, report = choose(fr, cut_s, cfg)
    hc = hour_counts(fr, cut_s, params.events, params.half_life_days, cfg)
    report.setdefault("pop_share", 0.0)
    report["pop_hours"] = [round(float(v), 6) for v in hour_counts(fr, cut_s, "all", 0.0, cfg).pop]
    return profile(hc, params), report
