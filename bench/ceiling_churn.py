"""How high can churn AUC go on a log? LightGBM fitted to the judged labels themselves.

Why: a target such as "+0.02 over recency" may ask more than the log holds. This probe gives an
upper reference that no honest model trained before the cut-off can expect to pass: it builds the
service's full feature set at the cut-off (``compute_features``, BG/NBD included) plus the user's
weekly activity counts over the last 52 weeks, then fits LightGBM *on the labels of the judged
period* with repeated stratified 5-fold cross-validation, and reports the out-of-fold AUC. Labels
and baselines follow ``recsvc evaluate churn`` (DATA.md protocol).

    .venv/bin/python bench/ceiling_churn.py ../shared/data/cdnow/CDNOW_master.txt 1997-10-01 273
    .venv/bin/python bench/ceiling_churn.py ../shared/data/ml-100k 1998-03-01 60
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from recsvc.data.convert import load_dataset
from recsvc.lifecycle.features import SYSTEM_EVENTS, compute_features

SETTINGS: dict[str, dict[str, Any]] = {
    "lgbm 15 leaves": {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 50},
    "lgbm 4 leaves": {"n_estimators": 600, "learning_rate": 0.01, "num_leaves": 4, "min_child_samples": 200},
}


def weekly_counts(ev: pd.DataFrame, cut: pd.Timestamp, users: list[str], weeks: int = 52) -> pd.DataFrame:
    """Activity events per user in each of the ``weeks`` weeks before the cut-off (0 = the last)."""
    act = ev[(ev["ts"] < cut) & ~ev["event_type"].astype(str).isin(SYSTEM_EVENTS)]
    age = ((cut - act["ts"]).dt.total_seconds() // (7 * 86400)).astype(np.int64)
    act = act.assign(week=age, user_id=act["user_id"].astype(str))[age < weeks]
    w = pd.crosstab(act["user_id"], act["week"]).reindex(index=users, columns=range(weeks), fill_value=0)
    w.columns = [f"week_{k}" for k in range(weeks)]
    return w


def cv_auc(x: pd.DataFrame, y: np.ndarray, params: dict[str, Any], repeats: int) -> list[float]:
    out = []
    for seed in range(repeats):
        oof = np.zeros(len(y))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
            m = lgb.LGBMClassifier(
                subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed, verbose=-1, **params
            )
            m.fit(x.iloc[tr], y[tr])
            oof[te] = np.asarray(m.predict_proba(x.iloc[te]))[:, 1]
        out.append(float(roc_auc_score(y, oof)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", help="events file or raw data set, as for `recsvc evaluate`")
    ap.add_argument("cutoff")
    ap.add_argument("horizon_days", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    ds = load_dataset(args.events)
    ev = ds.events
    ev = ev.assign(ts=pd.DatetimeIndex(ev["ts"]).tz_convert("UTC"))
    cut = pd.Timestamp(args.cutoff, tz="UTC")
    end = cut + pd.Timedelta(days=args.horizon_days)
    now = compute_features(ev, cut, horizon_days=args.horizon_days)
    users = [str(u) for u in now.index]
    after = compute_features(ev, end, users=users, horizon_days=args.horizon_days, with_bgnbd=False)
    y = (after["n_events_all"].to_numpy() == now["n_events_all"].to_numpy()).astype(np.int8)
    recency = roc_auc_score(y, np.nan_to_num(now["recency_days"].to_numpy(np.float64), nan=1e9))
    frequency = roc_auc_score(y, -now["n_events_all"].to_numpy(np.float64))
    x = pd.concat([now.reset_index(drop=True), weekly_counts(ev, cut, users).reset_index(drop=True)], axis=1)
    print(f"{ds.name}: {len(y)} users, churn rate {y.mean():.3f}; recency AUC {recency:.4f}, frequency {frequency:.4f}")
    result: dict[str, object] = {
        "data": ds.name,
        "cutoff": args.cutoff,
        "horizon_days": args.horizon_days,
        "n_users": len(y),
        "n_features": x.shape[1],
        "baselines": {"recency": recency, "frequency": frequency},
        "ceiling": {},
    }
    for name, params in SETTINGS.items():
        aucs = cv_auc(x, y, params, args.repeats)
        mean = float(np.mean(aucs))
        result["ceiling"][name] = mean  # type: ignore[index]
        print(
            f"  {name}: out-of-fold AUC {mean:.4f} (runs {', '.join(f'{a:.4f}' for a in aucs)}), "
            f"{mean - max(recency, frequency):+.4f} over the best baseline",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
