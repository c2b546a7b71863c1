"""Send-time evaluation per DATA.md: hit@1h of the predicted hour of each user's next visit.

Users with events on both sides of the cut-off; truth = local hour of the user's first event after
the cut-off (the user's zone when the users table gives one, else the clock the timestamp was
written in). The model is fitted only on events before the cut-off. Two baselines run side by
side: the population's most common hour and each user's own most common hour.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.convert import Dataset
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.timing.config import TimingConfig
from recsvc.timing.sendtime import SendTimeModel, circular_distance, local_times, pick_hours, user_zone_map

logger = logging.getLogger(__name__)


def _log_loss(dist: np.ndarray, truth: np.ndarray) -> float:
    p = np.clip(dist[np.arange(len(truth)), truth], 1e-9, None)
    return float(-np.mean(np.log(p)))


def _hit(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(circular_distance(pred, truth) <= 1))


def evaluate_sendtime(
    ds: Dataset,
    cutoff: datetime | pd.Timestamp | str,
    *,
    progress: bool = True,
    config: TimingConfig | None = None,
) -> dict[str, Any]:
    """Fit on events before ``cutoff``, judge the hour of each user's first event after it."""
    cut = pd.Timestamp(cutoff)
    if cut.tzinfo is None:
        cut = cut.tz_localize("UTC")
    ev = ds.events
    before, after = ev[ev["ts"] < cut], ev[ev["ts"] >= cut]
    both = sorted(set(before["user_id"].astype(str)) & set(after["user_id"].astype(str)))
    if not both:
        raise FailedPrecondition(f"no user has events on both sides of the cut-off {cut.isoformat()}")
    if len(before) == 0:
        raise InvalidArgument("cut-off precedes every event", field="cutoff")
    zones = user_zone_map(ds.users)
    _, hod_after, _ = local_times(after, zones)
    first = (
        pd.DataFrame({"user_id": after["user_id"].astype(str).to_numpy(), "hour": hod_after})
        .groupby("user_id", sort=False)["hour"]
        .first()
    )
    truth = first.loc[both].to_numpy(dtype=np.int64)

    model = SendTimeModel.fit(before, ds.users, cutoff=cut, config=config, progress=progress)
    dist = model.hour_distribution(both)
    pred = pick_hours(dist)

    # Baselines, in the same local clock.
    _, hod_before, _ = local_times(before, zones)
    pop_counts = np.bincount(hod_before, minlength=24).astype(np.float64)
    pop_hour = int(np.argmax(pop_counts))
    pop_dist = (pop_counts + 1.0) / (pop_counts.sum() + 24.0)
    bf = pd.DataFrame({"user_id": before["user_id"].astype(str).to_numpy(), "hour": hod_before})
    bf = bf[bf["user_id"].isin(set(both))]
    user_counts = (
        bf.groupby(["user_id", "hour"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=both, columns=range(24), fill_value=0)
        .to_numpy(dtype=np.float64)
    )
    user_mode = np.argmax(user_counts, axis=1)
    user_dist = (user_counts + 1.0) / (user_counts.sum(axis=1, keepdims=True) + 24.0)
    shrunk = model.metadata.get("lgbm", {})
    result: dict[str, Any] = {
        "hit@1h": _hit(pred, truth),
        "log_loss": _log_loss(dist, truth),
        "n_users": len(both),
        "baselines": {
            "population": _hit(np.full(len(both), pop_hour), truth),
            "user_mode": _hit(user_mode, truth),
        },
        "baselines_log_loss": {
            "population": _log_loss(np.tile(pop_dist, (len(both), 1)), truth),
            "user_mode": _log_loss(user_dist, truth),
        },
        "shrunk_hit@1h": _hit(pick_hours(model.hour_distribution(both, use_lgbm=False)), truth),
        "lgbm_used": bool(shrunk.get("used", False)),
        "model_mode": shrunk.get("mode", "shrunk"),
        "validation": shrunk.get("validation", {}),
        "cutoff": cut.isoformat(),
    }
    logger.info(
        "sendtime: hit@1h %.4f (population %.4f, user_mode %.4f) on %d users",
        result["hit@1h"],
        result["baselines"]["population"],
        result["baselines"]["user_mode"],
        len(both),
    )
    return result
