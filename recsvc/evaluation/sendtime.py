"""Send-time evaluation per DATA.md: hit@1h of the predicted hour of each user's next visit.

Users with an activity (:mod:`recsvc.evaluation.activity`) on both sides of the cut-off; truth =
local hour of the user's first activity after the cut-off (the user's zone when the users table
gives one, else the clock the timestamp was written in). The model is fitted only on events
before the cut-off (all of them, as in production); its hour is the habit profile's
(:mod:`recsvc.timing.dayprofile`), tuned on pseudo cut-offs before the cut-off. Baselines, from
the activities before the cut-off and chosen with the same +/- 1 h window as the metric: the
population's best hour and each user's own best hour (the hour with the most activities within
one hour of it, ties to the hour with more activities of its own). The user's plain arg-max hour
is shown beside them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.convert import Dataset
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.evaluation.activity import RULE, activity
from recsvc.timing.config import TimingConfig
from recsvc.timing.hours import circular_distance, circular_window, pick_hours
from recsvc.timing.localtime import local_times, user_zone_map
from recsvc.timing.sendtime import SendTimeModel

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("hit@1h",)


def _log_loss(dist: np.ndarray, truth: np.ndarray) -> float:
    p = np.clip(dist[np.arange(len(truth)), truth], 1e-9, None)
    return float(-np.mean(np.log(p)))


def _hit(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(circular_distance(pred, truth) <= 1))


def window_mode(counts: np.ndarray) -> np.ndarray:
    """Per row of 24 hourly counts: the hour with the most mass within +/- 1 h (the hit@1h window),
    ties broken by the hour's own count, then by the earliest hour."""
    c = np.asarray(counts, dtype=np.float64)
    win = circular_window(c, 1)
    # Counts are whole numbers, so a tie-break weight below 1/(24 * max) never reorders window sums.
    eps = 1.0 / (24.0 * (float(c.max()) + 1.0) * 4.0)
    return np.asarray(np.argmax(win + eps * c, axis=-1), dtype=np.int64)


def _user_hour_counts(before: pd.DataFrame, hod: np.ndarray, users: list[str]) -> np.ndarray:
    bf = pd.DataFrame({"user_id": before["user_id"].astype(str).to_numpy(), "hour": hod})
    bf = bf[bf["user_id"].isin(set(users))]
    return (
        bf.groupby(["user_id", "hour"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=users, columns=range(24), fill_value=0)
        .to_numpy(dtype=np.float64)
    )


def _utc(cutoff: datetime | pd.Timestamp | str) -> pd.Timestamp:
    cut = pd.Timestamp(cutoff)
    return cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")


def _judged_users(ds: Dataset, cut: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The activities before ``cut``, those from it on, and the users with activities on both sides
    of it; refuses a cut-off with none."""
    ev = ds.events
    if not (ev["ts"] < cut).any():
        raise InvalidArgument("cut-off precedes every event", field="cutoff")
    act = activity(ev)
    before, after = act[act["ts"] < cut], act[act["ts"] >= cut]
    both = sorted(set(before["user_id"].astype(str)) & set(after["user_id"].astype(str)))
    if not both:
        raise FailedPrecondition(f"no user has activities on both sides of the cut-off {cut.isoformat()}")
    return before, after, both


def check_cutoff(ds: Dataset, cutoff: datetime | pd.Timestamp | str) -> None:
    """Refuse, before any model is fitted, a cut-off :func:`evaluate_sendtime` could not judge."""
    _judged_users(ds, _utc(cutoff))


def evaluate_sendtime(
    ds: Dataset,
    cutoff: datetime | pd.Timestamp | str,
    *,
    progress: bool = True,
    config: TimingConfig | None = None,
) -> dict[str, Any]:
    """Fit on events before ``cutoff``, judge the hour of each user's first activity after it."""
    cut = _utc(cutoff)
    ev = ds.events
    before, after, both = _judged_users(ds, cut)
    zones = user_zone_map(ds.users)
    _, hod_after, _ = local_times(after, zones)
    first = (
        pd.DataFrame(
            {"user_id": after["user_id"].astype(str).to_numpy(), "hour": hod_after, "ts": after["ts"].to_numpy()}
        )
        .sort_values("ts", kind="stable")
        .groupby("user_id", sort=False)["hour"]
        .first()
    )
    truth = first.loc[both].to_numpy(dtype=np.int64)

    model = SendTimeModel.fit(ev[ev["ts"] < cut], ds.users, cutoff=cut, config=config, progress=progress)
    dist = model.hour_distribution(both)
    pred = model.predict_hours(both)

    # Baselines, from activities only, in the same local clock.
    _, hod_before, _ = local_times(before, zones)
    pop_counts = np.bincount(hod_before, minlength=24).astype(np.float64)
    pop_dist = (pop_counts + 1.0) / (pop_counts.sum() + 24.0)
    user_counts = _user_hour_counts(before, hod_before, both)
    user_dist = (user_counts + 1.0) / (user_counts.sum(axis=1, keepdims=True) + 24.0)
    shrunk = model.metadata.get("lgbm", {})
    n = len(both)
    result: dict[str, Any] = {
        "hit@1h": _hit(pred, truth),
        "log_loss": _log_loss(dist, truth),
        "n_users": n,
        "baselines": {
            "population": _hit(np.full(n, int(window_mode(pop_counts))), truth),
            "user_mode": _hit(window_mode(user_counts), truth),
            "user_mode_argmax": _hit(np.argmax(user_counts, axis=1), truth),
        },
        "baselines_log_loss": {
            "population": _log_loss(np.tile(pop_dist, (n, 1)), truth),
            "user_mode": _log_loss(user_dist, truth),
        },
        "shrunk_hit@1h": _hit(pick_hours(model.hour_distribution(both, use_lgbm=False, use_habit=False)), truth),
        "learner_hit@1h": _hit(pick_hours(model.hour_distribution(both, use_habit=False)), truth),
        "day_profile": model.metadata.get("day_profile", {}),
        "hit_scorer": model.metadata.get("hit_scorer", {"used": False, "reason": "not fitted"}),
        "lgbm_used": bool(shrunk.get("used", False)),
        "model_mode": shrunk.get("mode", "shrunk"),
        "validation": shrunk.get("validation", {}),
        "cutoff": cut.isoformat(),
        "activity_rule": RULE,
    }
    logger.info(
        "sendtime at %s: hit@1h %.4f (population %.4f, user_mode %.4f) on %d users",
        cut.date(),
        result["hit@1h"],
        result["baselines"]["population"],
        result["baselines"]["user_mode"],
        n,
    )
    return result
