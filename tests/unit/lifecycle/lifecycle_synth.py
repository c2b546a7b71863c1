"""A small seeded synthetic app log: users with their own pace who may drop out (shared by tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.lifecycle.config import LifecycleConfig

START = pd.Timestamp("2024-01-01", tz="UTC")
# A cut-off inside the synthetic log, and a quick training config, for the tests that train on it.
CUT = pd.Timestamp("2024-07-01", tz="UTC")
CFG = LifecycleConfig(max_rounds=60, early_stopping_rounds=10, seed=3)


def synthetic_events(n_users: int = 400, days: int = 240, seed: int = 0) -> pd.DataFrame:
    """Each user: signup day, daily visit rate, dropout day; visits are views, some carts and purchases,
    plus pushes delivered to everybody and opened by the engaged."""
    rng = np.random.default_rng(seed)
    signup = rng.integers(0, days // 2, n_users)
    rate = rng.gamma(1.0, 0.25, n_users) + 0.01
    life = rng.exponential(90.0, n_users)
    rows_u, rows_t, rows_e = [], [], []
    for u in range(n_users):
        end = min(days, signup[u] + life[u])
        n = rng.poisson(rate[u] * max(end - signup[u], 0.0)) + 1
        t = np.sort(rng.uniform(signup[u], max(end, signup[u] + 0.1), n))
        kind = rng.choice(["view", "app_open", "add_to_cart", "purchase", "search"], n, p=[0.5, 0.2, 0.12, 0.08, 0.1])
        rows_u.append(np.full(n, f"u{u}"))
        rows_t.append(t)
        rows_e.append(kind)
        pushes = np.arange(signup[u] + 3, days, 14.0)
        opened = rng.random(len(pushes)) < np.where(pushes < end, 0.6, 0.05)
        rows_u.append(np.full(len(pushes) + opened.sum(), f"u{u}"))
        rows_t.append(np.r_[pushes, pushes[opened] + 0.01])
        rows_e.append(np.r_[np.full(len(pushes), "push_delivered"), np.full(opened.sum(), "push_opened")])
    u = np.concatenate(rows_u)
    t = np.concatenate(rows_t)
    e = np.concatenate(rows_e)
    df = pd.DataFrame(
        {
            "user_id": u,
            "ts": START + pd.to_timedelta(t, unit="D"),
            "event_type": e,
            "item_id": np.where(
                np.isin(e, ["view", "add_to_cart", "purchase"]),
                np.char.add("i", rng.integers(0, 50, len(e)).astype(str)),
                None,
            ),
            "value": np.where(e == "purchase", rng.gamma(2.0, 20.0, len(e)).round(2), np.nan),
        }
    )
    return normalize_events(df)
