"""The next-visit learner's decision: what it may and may not steer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.timing.sendtime import SendTimeModel
from tests.unit.timing.conftest import CUTOFF, FAST, habit_data


def test_learned_forecast_of_app_pushes_never_steers_serving() -> None:
    """Labels that include our own push deliveries must not move the serving curve."""
    events, users, _ = habit_data(n_users=60, days=60, seed=5)
    rng = np.random.default_rng(2)
    pushes = pd.DataFrame(
        {
            "user_id": [f"u{int(rng.integers(60))}" for _ in range(400)],
            "ts": [(CUTOFF - pd.Timedelta(days=int(rng.integers(1, 60)), hours=-3)).isoformat() for _ in range(400)],
            "event_type": "push_delivered",
        }
    )
    both = pd.concat([events, normalize_events(pushes)], ignore_index=True).sort_values("ts")
    # Labelled with every event, pushes included; the habit profile off, so only the learner could steer.
    cfg = replace(FAST, label_events="any", use_day_profile=False)
    model = SendTimeModel.fit(both, users, cutoff=CUTOFF, config=cfg, progress=False)
    meta = model.metadata["lgbm"]
    assert meta.get("app_initiated_events", 0) > 0
    assert meta.get("serving") is False
    np.testing.assert_allclose(model._hour_adjust("u0"), np.ones(24))
