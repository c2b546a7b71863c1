"""Churn evaluation on one time split (DATA.md protocol), with the standard baselines side by side.

Users = everyone with an activity (:mod:`recsvc.evaluation.activity`) before the cut-off;
churned = no activity in [cutoff, cutoff + H). The model is trained by
:func:`recsvc.lifecycle.train.train_lifecycle` on events before the cut-off only, with every
training label window ending by the cut-off, so the judged period never leaks in.

Baselines, all fitted on the same pre-cut-off log: BG/NBD's probability of no purchase within the
horizon (the standard BG/NBD churn score), minus BG/NBD's expected number of purchases in the
horizon (its other standard ranking; on CDNOW the stronger of the two), BG/NBD's 1 - P(alive)
(shown beside them: it ranks one-time buyers as sure to stay, since BG/NBD only lets a customer
die right after a purchase), the same three scores of Pareto/NBD (which lets a customer die at
any time, so a long silence after one purchase counts too), days since the last activity, and
minus the activity count.

Calibration is judged on the same users: the Brier score beside that of always predicting the churn
rate, and a reliability table (ten equal-width bins of predicted risk: users, mean prediction,
observed churn rate) with its users-weighted mean gap (expected calibration error).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from recsvc.data.convert import Dataset
from recsvc.errors import InvalidArgument
from recsvc.evaluation.activity import RULE, activity
from recsvc.lifecycle.calibration import expected_calibration_error, reliability
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.features import FEATURE_NAMES, compute_features
from recsvc.lifecycle.model import LifecycleModel
from recsvc.lifecycle.train import train_lifecycle

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("auc",)


def _utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def churn_labels(events: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    """1 = churned, per user with an activity before ``cutoff`` (sorted ids): no activity in the horizon."""
    act = activity(events)
    users = act["user_id"].astype(str)
    before = np.sort(pd.unique(users[act["ts"] < cutoff]))
    end = cutoff + pd.Timedelta(days=horizon_days)
    back = set(users[(act["ts"] >= cutoff) & (act["ts"] < end)])
    y = np.fromiter((u not in back for u in before), dtype=np.int8, count=len(before))
    return pd.Series(y, index=pd.Index(before, name="user_id"), name="churned")


def _check_split(ev: pd.DataFrame, name: str, c: pd.Timestamp, horizon_days: int) -> None:
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon must be > 0 days, got {horizon_days}", field="horizon_days")
    if ev.empty:
        raise InvalidArgument(f"data set {name!r} has no events", field="events")
    first, last = ev["ts"].min(), ev["ts"].max()
    if not first < c <= last:
        raise InvalidArgument(
            f"cut-off {c.date()} is outside the data range {first.date()} .. {last.date()}", field="cutoff"
        )
    end = c + pd.Timedelta(days=horizon_days)
    if end > last + pd.Timedelta(days=1):
        logger.warning(
            "horizon ends %s, after the last event (%s): the judged period is truncated", end.date(), last.date()
        )


def baseline_scores(
    events: pd.DataFrame, cutoff: pd.Timestamp, users: list[str], horizon_days: int
) -> dict[str, np.ndarray]:
    """Churn-risk scores of the baselines (higher = more likely to churn), row per user in ``users``."""
    base = compute_features(events, cutoff, users=users, horizon_days=horizon_days, with_paretonbd=True)
    # Every judged user has an activity, so the BG/NBD columns are set; NaN would mean "no history".
    p_zero = np.nan_to_num(base["bgnbd_p_zero_h"].to_numpy(np.float64), nan=1.0)
    p_alive = np.nan_to_num(base["bgnbd_p_alive"].to_numpy(np.float64), nan=0.0)
    expected = np.nan_to_num(base["bgnbd_expected_h"].to_numpy(np.float64), nan=0.0)

    def col(name: str, fill: float) -> np.ndarray:
        return np.nan_to_num(base[name].to_numpy(np.float64), nan=fill)

    return {
        "bgnbd_p_no_purchase": p_zero,
        "bgnbd_expected_purchases": -expected,
        "bgnbd_1_minus_p_alive": 1.0 - p_alive,
        "paretonbd_p_no_purchase": col("pnbd_p_zero_h", 1.0),
        "paretonbd_expected_purchases": -col("pnbd_expected_h", 0.0),
        "paretonbd_1_minus_p_alive": 1.0 - col("pnbd_p_alive", 0.0),
        "recency": np.nan_to_num(base["recency_days"].to_numpy(np.float64), nan=1e9),
        "frequency": -base["n_events_all"].to_numpy(np.float64),
    }


def _judged_labels(ds: Dataset, c: pd.Timestamp, horizon_days: int) -> pd.Series:
    """The churn label of every user active before ``c``; refuses a split with nothing to rank."""
    _check_split(ds.events, ds.name, c, horizon_days)
    labels = churn_labels(ds.events, c, horizon_days)
    if labels.empty:
        raise InvalidArgument(f"no users with an activity before the cut-off {c.date()}", field="cutoff")
    y = labels.to_numpy()
    if y.min() == y.max():
        raise InvalidArgument(
            f"every user has the same label (churn rate {y.mean():.0%}) with horizon "
            f"{horizon_days} d after {c.date()}: no ranking to judge",
            field="horizon_days",
        )
    return labels


def check_cutoff(ds: Dataset, cutoff: pd.Timestamp | str, horizon_days: int) -> None:
    """Refuse, before any model is trained, a cut-off :func:`evaluate_churn` could not judge."""
    _judged_labels(ds, _utc(cutoff), horizon_days)


def evaluate_churn(
    ds: Dataset,
    cutoff: pd.Timestamp | str,
    horizon_days: int,
    *,
    progress: bool = True,
    config: LifecycleConfig | None = None,
) -> dict[str, Any]:
    """Train before ``cutoff``, score users at it, judge the next ``horizon_days``; AUCs vs baselines."""
    cfg = config or LifecycleConfig(horizon_days=horizon_days)
    cfg.validate()
    ev = ds.events
    c = _utc(cutoff)
    labels = _judged_labels(ds, c, horizon_days)
    y = labels.to_numpy()
    users = list(labels.index)
    with tempfile.TemporaryDirectory(prefix="recsvc-churn-eval-") as tmp:
        vdir = train_lifecycle(
            ev[ev["ts"] < c], out_dir=Path(tmp), horizon_days=horizon_days, cutoff=c, config=cfg, progress=progress
        )
        model = LifecycleModel.load(vdir)
        risk, _, _ = model.score_arrays(model.features(ev, c, users=users))
        meta = model.metadata
    base = baseline_scores(ev, c, users, horizon_days)
    table = reliability(risk, y)
    result: dict[str, Any] = {
        "auc": float(roc_auc_score(y, risk)),
        "pr_auc": float(average_precision_score(y, risk)),
        "brier": float(np.mean((risk - y) ** 2)),
        "brier_base_rate": float(y.mean() * (1 - y.mean())),
        "expected_calibration_error": expected_calibration_error(table),
        "reliability": table,
        "n_users": len(y),
        "churn_rate": float(y.mean()),
        "baselines": {name: float(roc_auc_score(y, s)) for name, s in base.items()},
        "cutoff": c.isoformat(),
        "horizon_days": horizon_days,
        "activity_rule": RULE,
        "training": {
            "cutoffs": meta["training_window"]["cutoffs"],  # type: ignore[index]
            "n_samples": meta["n_samples"],
            "validation": meta["metrics"],
        },
        "n_features": len(FEATURE_NAMES),
    }
    return result
