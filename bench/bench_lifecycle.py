"""Lifecycle benchmark: train churn + stage models on a synthetic N-user log, then batch-score everyone.

Goals (issue 3): training < 10 min and < 8 GiB peak RSS for 1,000,000 users; batch scoring
> 200,000 users/s for both models. Prints a markdown table.

    .venv/bin/python bench/bench_lifecycle.py --users 1000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.lifecycle.model import LifecycleConfig, LifecycleModel, train_lifecycle

START = pd.Timestamp("2025-01-01", tz="UTC")
KINDS = np.array(["app_open", "view", "search", "add_to_cart", "purchase", "push_delivered", "push_opened"])
KIND_P = np.array([0.2, 0.35, 0.08, 0.08, 0.04, 0.18, 0.07])


def synthetic_log(n_users: int, days: int, events_per_user: float, seed: int) -> pd.DataFrame:
    """Vectorized: per user a signup day, a dropout day and a pace; events uniform in the active span."""
    rng = np.random.default_rng(seed)
    signup = rng.uniform(0, days * 0.8, n_users)
    life = rng.exponential(days / 3, n_users)
    end = np.minimum(signup + life, days)
    n = rng.poisson(events_per_user * rng.gamma(2.0, 0.5, n_users)) + 1
    user = np.repeat(np.arange(n_users), n)
    t = signup[user] + rng.random(len(user)) * (end[user] - signup[user])
    order = np.argsort(t, kind="stable")
    user, t = user[order], t[order]
    kind = rng.choice(len(KINDS), len(user), p=KIND_P)
    return pd.DataFrame(
        {
            "user_id": pd.Index(np.char.add("u", np.arange(n_users).astype(str)))[user].to_numpy(dtype=object),
            "ts": START + pd.to_timedelta(np.round(t * 86400).astype(np.int64), unit="s"),
            "event_type": KINDS.astype(object)[kind],
            "value": np.where(kind == 4, rng.gamma(2.0, 20.0, len(user)), np.nan),
            "item_id": np.where(np.isin(kind, [1, 3, 4]), rng.integers(0, 20000, len(user)).astype(str), None),
            "ts_offset_min": np.zeros(len(user), dtype=np.int32),
        }
    )


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--events-per-user", type=float, default=12.0)
    ap.add_argument("--horizon-days", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    ev = synthetic_log(args.users, args.days, args.events_per_user, args.seed)
    rows.append(("events generated", f"{len(ev):,} for {args.users:,} users ({time.perf_counter() - t0:.1f} s)"))
    rows.append(("peak RSS after generation", f"{peak_rss_gib():.2f} GiB"))
    cfg = LifecycleConfig(horizon_days=args.horizon_days, num_threads=args.threads)
    now = START + pd.Timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        vdir = train_lifecycle(ev, out_dir=Path(tmp), horizon_days=args.horizon_days, config=cfg, progress=True)
        train_s = time.perf_counter() - t0
        rows.append(("training time (goal < 600 s)", f"{train_s:.1f} s"))
        rows.append(("peak RSS after training (goal < 8 GiB)", f"{peak_rss_gib():.2f} GiB"))
        model = LifecycleModel.load(vdir)
        m = model.metadata["metrics"]
        rows.append(("churn AUC / Brier on time split", f"{m['churn']['auc']:.3f} / {m['churn']['brier']:.3f}"))  # type: ignore[index]
        t0 = time.perf_counter()
        feats = model.features(ev, now)
        feat_s = time.perf_counter() - t0
        rows.append(
            (
                "features at 'now'",
                f"{len(feats):,} users in {feat_s:.1f} s ({len(feats) / feat_s:,.0f} users/s)",
            )
        )
        t0 = time.perf_counter()
        churn, _probs, _rules = model.score_arrays(feats)
        score_s = time.perf_counter() - t0
        rows.append(
            (
                "score_arrays, both models (goal > 200,000/s)",
                f"{len(churn) / score_s:,.0f} users/s ({score_s:.2f} s, {args.threads} thread(s))",
            )
        )
        sub = feats.iloc[:10_000]
        t0 = time.perf_counter()
        model.score(sub)
        rows.append(("score with reasons", f"{len(sub) / (time.perf_counter() - t0):,.0f} users/s"))
        rows.append(("peak RSS overall", f"{peak_rss_gib():.2f} GiB"))
    print("\n| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
