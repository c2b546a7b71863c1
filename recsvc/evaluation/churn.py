"""Churn evaluation on one time split (DATA.md protocol), with simple baselines side by side.

Users = everyone with an event before the cut-off; churned = no activity in [cutoff, cutoff + H).
The model is trained by :func:`recsvc.lifecycle.model.train_lifecycle` on events before the cut-off
only, with every training label window ending by the cut-off, so the judged period never leaks in.
Baselines: 1 - P(alive) of a BG/NBD fitted before the cut-off, days since the last event, and
minus the event count.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from recsvc.data.convert import Dataset
from recsvc.errors import InvalidArgument
from recsvc.lifecycle.features import FEATURE_NAMES, _seconds, compute_features
from recsvc.lifecycle.model import LifecycleConfig, LifecycleModel, train_lifecycle

logger = logging.getLogger(__name__)


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def evaluate_churn(
    ds: Dataset,
    cutoff: pd.Timestamp,
    horizon_days: int,
    *,
    progress: bool = True,
    config: LifecycleConfig | None = None,
) -> dict[str, object]:
    """Train before ``cutoff``, score users at it, judge the next ``horizon_days``; AUCs vs baselines."""
    cfg = config or LifecycleConfig(horizon_days=horizon_days)
    cfg.validate()
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon must be > 0 days, got {horizon_days}", field="horizon_days")
    ev = ds.events
    if ev.empty:
        raise InvalidArgument(f"data set {ds.name!r} has no events", field="events")
    c = _utc(cutoff)
    secs = _seconds(ev["ts"])
    first = pd.Timestamp(float(secs.min()), unit="s", tz="UTC")
    last = pd.Timestamp(float(secs.max()), unit="s", tz="UTC")
    if not first < c <= last:
        raise InvalidArgument(
            f"cut-off {c.date()} is outside the data range {first.date()} .. {last.date()}", field="cutoff"
        )
    end = c + pd.Timedelta(days=horizon_days)
    if end > last + pd.Timedelta(days=1):
        logger.warning(
            "horizon ends %s, after the last event (%s): the judged period is truncated",
            end.date(),
            last.date(),
        )
    now = compute_features(ev, c, horizon_days=horizon_days, with_bgnbd=False)
    if now.empty:
        raise InvalidArgument(f"no users with an event before the cut-off {c.date()}", field="cutoff")
    after = compute_features(ev, end, users=list(now.index), horizon_days=horizon_days, with_bgnbd=False)
    y = (after["n_events_all"].to_numpy() == now["n_events_all"].to_numpy()).astype(np.int8)
    if y.min() == y.max():
        raise InvalidArgument(
            f"every user has the same label (churn rate {y.mean():.0%}) with horizon "
            f"{horizon_days} d after {c.date()}: no ranking to judge",
            field="horizon_days",
        )
    with tempfile.TemporaryDirectory(prefix="recsvc-churn-eval-") as tmp:
        vdir = train_lifecycle(
            ev[secs < c.value / 1e9],
            out_dir=Path(tmp),
            horizon_days=horizon_days,
            cutoff=c,
            config=cfg,
            progress=progress,
        )
        model = LifecycleModel.load(vdir)
        feats = model.features(ev, c, users=list(now.index))
        risk, _, _ = model.score_arrays(feats)
        meta = model.metadata
    base = compute_features(ev, c, users=list(now.index), horizon_days=horizon_days)
    p_alive = np.nan_to_num(base["bgnbd_p_alive"].to_numpy(np.float64), nan=0.0)
    recency = np.nan_to_num(base["recency_days"].to_numpy(np.float64), nan=1e9)
    count = base["n_events_all"].to_numpy(np.float64)
    result: dict[str, object] = {
        "auc": float(roc_auc_score(y, risk)),
        "pr_auc": float(average_precision_score(y, risk)),
        "brier": float(np.mean((risk - y) ** 2)),
        "n_users": len(y),
        "churn_rate": float(y.mean()),
        "baselines": {
            "bgnbd": float(roc_auc_score(y, 1.0 - p_alive)),
            "recency": float(roc_auc_score(y, recency)),
            "frequency": float(roc_auc_score(y, -count)),
        },
        "cutoff": c.isoformat(),
        "horizon_days": horizon_days,
        "training": {
            "cutoffs": meta["training_window"]["cutoffs"],  # type: ignore[index]
            "n_samples": meta["n_samples"],
            "validation": meta["metrics"],
        },
        "n_features": len(FEATURE_NAMES),
    }
    return result
