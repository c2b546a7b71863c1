"""The next-visit learner: LightGBM over user x hour features, kept only when it wins validation.

Examples come from pseudo cut-offs stepped back from the cut-off: the state as of each one, and
as label the local hour of the user's first event after it. Candidates are judged on held-out
users: LightGBM, its mean with the shrunk curve, and the first-arrival (hazard) distribution; the
shrunk curve is the default. The validation scores and the decision go to ``metadata.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsvc.timing.arrival import app_counts, app_intensity, arrival
from recsvc.timing.config import TimingConfig
from recsvc.timing.features import FEATURE_NAMES, features
from recsvc.timing.history import EventFrame, UserState, first_after, user_state
from recsvc.timing.hours import circular_distance, day_profile, pick_hours
from recsvc.timing.profile import Posterior, posterior

logger = logging.getLogger(__name__)

N_FEATURES = len(FEATURE_NAMES)


@dataclass
class _Cutoff:
    """One pseudo cut-off's examples: users with history before it and an event after it."""

    state: UserState
    post: Posterior
    rows: np.ndarray  # user codes of the examples
    app: np.ndarray  # app-initiated event counts as of the pseudo cut-off
    asof: float
    truth: np.ndarray  # local hour of each example's first event after the pseudo cut-off
    truth_secs: np.ndarray  # and when it happened


@dataclass
class _Examples:
    """Every pseudo cut-off's examples, concatenated in cut-off order."""

    cutoffs: list[_Cutoff]
    users: np.ndarray
    truth: np.ndarray
    weight: np.ndarray


def _pseudo_cutoffs(
    fr: EventFrame,
    fa: EventFrame,
    act: EventFrame,
    seg_codes: np.ndarray,
    n_seg: int,
    cut_s: float,
    cfg: TimingConfig,
    steps: Any,
) -> list[_Cutoff]:
    """Pseudo cut-offs from ``min_label_window_days`` before the cut-off back in steps, while at
    least one step of history precedes them; labels come from events up to the real cut-off."""
    n = len(fr.user_ids)
    label_fr = {"any": fa, "engaged": fr}.get(cfg.label_events, act)
    first_s = float(fr.secs.min())
    out: list[_Cutoff] = []
    for k in range(1, cfg.pseudo_cutoffs + 1):
        steps.update(1)
        c = cut_s - cfg.min_label_window_days * 86400.0 - (k - 1) * cfg.pseudo_cutoff_step_days * 86400.0
        if c <= first_s + cfg.pseudo_cutoff_step_days * 86400.0:
            break
        sk = user_state(fr, c, cfg, n)
        truth, truth_s = first_after(label_fr, c, cut_s, n)
        rows = np.flatnonzero((sk.n_events > 0) & (truth >= 0))
        if len(rows) == 0:
            continue
        pk = posterior(sk, seg_codes, n_seg, cfg)
        out.append(_Cutoff(sk, pk, rows, app_counts(fa, c, cfg, n), c, truth[rows], truth_s[rows]))
    return out


def _examples(cutoffs: list[_Cutoff]) -> _Examples:
    u = np.concatenate([c.rows for c in cutoffs])
    t = np.concatenate([c.truth for c in cutoffs])
    # A user idle across several pseudo cut-offs yields the same label (and nearly the same
    # features) at each: weight such duplicates 1/count so they do not dominate.
    key = pd.Series(u.astype(np.float64) * 1e10 + np.concatenate([c.truth_secs for c in cutoffs]))
    w = 1.0 / key.map(key.value_counts()).to_numpy(dtype=np.float64)
    return _Examples(cutoffs, u, t, w)


def _label_prior(ex: _Examples, mask: np.ndarray) -> np.ndarray:
    """(24,) weighted distribution of the masked examples' label hours, add-one smoothed."""
    lp = np.bincount(ex.truth[mask], weights=ex.weight[mask], minlength=24) + 1.0
    return np.asarray(lp / lp.sum(), dtype=np.float64)


def _matrix(ex: _Examples, seg_codes: np.ndarray, cfg: TimingConfig, label_pop: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [features(c.state, c.post, seg_codes, c.rows, c.asof, cfg, c.app, label_pop) for c in ex.cutoffs]
    )


def _example_rows(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The 24 feature rows of each masked example."""
    return x.reshape(-1, 24, N_FEATURES)[mask].reshape(-1, N_FEATURES)


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


def _train(ex: _Examples, x: np.ndarray, mask: np.ndarray, cfg: TimingConfig) -> Any:
    """A LightGBM booster scoring each (user, hour) row: is this the hour of the next visit?"""
    import lightgbm as lgb

    y = np.zeros((len(ex.truth), 24))
    y[np.arange(len(ex.truth)), ex.truth] = 1
    ds = lgb.Dataset(
        _example_rows(x, mask),
        y[mask].reshape(-1),
        weight=np.repeat(ex.weight[mask], 24),
        feature_name=list(FEATURE_NAMES),
    )
    return lgb.train(_lgbm_params(cfg), ds, num_boost_round=cfg.lgbm_rounds)


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    s = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def _candidates(ex: _Examples, va: np.ndarray, seg_codes: np.ndarray, cfg: TimingConfig) -> dict[str, np.ndarray]:
    """Each candidate's (n_validation, 24) next-visit hour distribution for the held-out examples."""
    # The label prior of the validation model sees training users' labels only.
    x_tr = _matrix(ex, seg_codes, cfg, _label_prior(ex, ~va))
    booster = _train(ex, x_tr, ~va, cfg)
    d_lgb = _softmax_rows(booster.predict(_example_rows(x_tr, va), raw_score=True).reshape(-1, 24))
    eb = np.concatenate([day_profile(c.post.week[c.rows]) for c in ex.cutoffs])
    arr = np.concatenate(
        [
            arrival(c.state, c.post.week, c.rows, c.asof, cfg, app_intensity(c.state, c.app, c.rows, c.asof, cfg))
            for c in ex.cutoffs
        ]
    )
    return {
        "shrunk": eb[va],
        "arrival": arr[va],
        "lgbm": d_lgb,
        "blend": 0.5 * (d_lgb + eb[va]),
    }


def _weighted_hit(d: np.ndarray, truth: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * (circular_distance(pick_hours(d), truth) <= 1)) / w.sum())


def _weighted_log_loss(d: np.ndarray, truth: np.ndarray, w: np.ndarray) -> float:
    return float(-np.sum(w * np.log(np.clip(d[np.arange(len(truth)), truth], 1e-9, None))) / w.sum())


def _choose(hits: dict[str, float], cfg: TimingConfig) -> str:
    """The candidate to serve: order breaks ties toward the simpler one; a learned one must also
    beat the shrunk curve by ``lgbm_min_gain``."""
    best = "shrunk"
    for m in ("arrival", "lgbm", "blend"):
        margin = cfg.lgbm_min_gain if m != "arrival" else 0.0
        if hits[m] > hits[best] + margin and hits[m] > hits["shrunk"] + margin:
            best = m
    return best


def _decision(
    best: str,
    hits: dict[str, float],
    lls: dict[str, float],
    ex: _Examples,
    va: np.ndarray,
    n_cut: int,
    n_app: int,
    cfg: TimingConfig,
) -> dict[str, Any]:
    """What ``metadata.json`` records of the choice, its validation and whether it serves."""
    used = best != "shrunk"
    return {
        "used": bool(used),
        "mode": best,
        "reason": f"{best} has the best validation hit@1h" if used else "nothing beats the shrunk curve",
        "validation": {
            **{f"{m}_hit@1h": v for m, v in hits.items()},
            **{f"{m}_log_loss": v for m, v in lls.items()},
            "n_users": len(np.unique(ex.users[va])),
            "n_examples": int(va.sum()),
        },
        "n_examples": len(ex.truth),
        "pseudo_cutoffs": n_cut,
        "label_events": cfg.label_events,
        "app_initiated_events": n_app,
        # A forecast whose labels include app-initiated events (our own push deliveries) predicts
        # when *we* last sent, not when the user shows up: it serves evaluation, never send-time choice.
        "serving": bool(used and (cfg.label_events != "any" or n_app == 0)),
    }


def _serving_hours(
    best: str,
    ex: _Examples,
    fa: EventFrame,
    st: UserState,
    post: Posterior,
    seg_codes: np.ndarray,
    cut_s: float,
    cfg: TimingConfig,
) -> tuple[np.ndarray, str | None, np.ndarray | None]:
    """(n, 24) next-visit hours of every user as of the cut-off from the chosen candidate, the
    final booster's text and the label prior it was trained with (both None for ``arrival``)."""
    n = len(st.n_events)
    rows = np.flatnonzero(st.n_events > 0)
    app_now = app_counts(fa, cut_s, cfg, n)
    hour = np.zeros((n, 24))
    if best == "arrival":
        hour[rows] = arrival(st, post.week, rows, cut_s, cfg, app_intensity(st, app_now, rows, cut_s, cfg))
        return hour, None, None
    everyone = np.ones(len(ex.truth), dtype=bool)
    lp_all = _label_prior(ex, everyone)
    final = _train(ex, _matrix(ex, seg_codes, cfg, lp_all), everyone, cfg)
    x_now = features(st, post, seg_codes, rows, cut_s, cfg, app_now, lp_all)
    hour[rows] = _softmax_rows(final.predict(x_now, raw_score=True).reshape(-1, 24))
    if best == "blend":
        hour[rows] = 0.5 * (hour[rows] + day_profile(post.week[rows]))
    return hour, final.model_to_string(), lp_all


def fit_next_visit(
    fr: EventFrame,
    fa: EventFrame,
    act: EventFrame,
    st: UserState,
    post: Posterior,
    seg_codes: np.ndarray,
    n_seg: int,
    cut_s: float,
    cfg: TimingConfig,
    steps: Any,
) -> tuple[np.ndarray | None, str | None, dict[str, Any]]:
    """Learn the next-visit hour on pseudo cut-offs before the cut-off; keep it only if it wins.

    ``fr`` holds the weighted events, ``fa`` every event (app-initiated ones too), ``act`` the
    activities (the labels of ``label_events="activity"``); ``st`` and
    ``post`` are the state and posterior at the cut-off. Returns each user's (n, 24) next-visit
    hour distribution and the LightGBM model text (None where not used) and the decision.
    """
    cutoffs = _pseudo_cutoffs(fr, fa, act, seg_codes, n_seg, cut_s, cfg, steps)
    n_examples = int(sum(len(c.rows) for c in cutoffs))
    if n_examples < cfg.min_training_examples or not cutoffs:
        reason = f"too few pseudo-cut-off examples ({n_examples})"
        return None, None, {"used": False, "reason": reason, "n_examples": n_examples}
    ex = _examples(cutoffs)
    # Validate on held-out *users*: the same user at another pseudo cut-off is a near-copy.
    va = (np.random.default_rng(cfg.seed).random(len(fr.user_ids)) < cfg.validation_share)[ex.users]
    if va.sum() == 0 or (~va).sum() == 0:
        return None, None, {"used": False, "reason": "cannot split users for validation", "n_examples": n_examples}
    t_va, w_va = ex.truth[va], ex.weight[va]
    cands = _candidates(ex, va, seg_codes, cfg)
    hits = {m: _weighted_hit(d, t_va, w_va) for m, d in cands.items()}
    lls = {m: _weighted_log_loss(d, t_va, w_va) for m, d in cands.items()}
    best = _choose(hits, cfg)
    logger.info(
        "send-time validation hit@1h: %s (n=%d): use %s",
        ", ".join(f"{m} {v:.4f}" for m, v in hits.items()),
        int(va.sum()),
        best,
    )
    decision = _decision(best, hits, lls, ex, va, len(cutoffs), int(np.sum(fa.weight <= 0)), cfg)
    if not decision["used"]:
        return None, None, decision
    hour, model_text, label_prior = _serving_hours(best, ex, fa, st, post, seg_codes, cut_s, cfg)
    if label_prior is not None:
        decision["label_prior"] = [float(v) for v in label_prior]
    steps.update(1)
    return hour, model_text, decision
