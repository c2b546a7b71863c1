"""The fitted model: local habits learned, unknown users served, nothing after the cut-off read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.timing.hours import circular_distance
from recsvc.timing.sendtime import SendTimeModel
from tests.unit.timing.conftest import CUTOFF, FAST, habit_data, random_hours_events


def test_learns_local_habits(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    ids = list(habit)
    pred = model.predict_hours(ids)
    truth = np.array([habit[u] for u in ids])
    assert np.mean(circular_distance(pred, truth) <= 1) > 0.9
    meta = model.metadata["lgbm"]
    assert "validation" in meta and {"lgbm_hit@1h", "shrunk_hit@1h"} <= set(meta["validation"])
    assert isinstance(meta["used"], bool)
    habit_meta = model.metadata["day_profile"]
    assert isinstance(habit_meta["used"], bool) and "params" in habit_meta
    assert model.habit_hour is not None and model.habit_hour.shape == (len(model.user_ids), 24)


def test_unknown_user_gets_population_or_segment_curve(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, _ = fitted
    start = datetime(2024, 3, 4, tzinfo=UTC)
    curve = model.curve("nobody", start, hours=24, tz="Asia/Shanghai")
    assert len(curve) == 24 and abs(sum(p for _, p in curve) - 1) < 1e-9
    seg = model.week_curve("nobody", segment="tz:Asia/Shanghai")
    assert seg.shape == (168,) and abs(seg.sum() - 1) < 1e-6
    slot = model.best_slot("nobody", now_utc=start, tz="Asia/Shanghai")
    assert slot is not None and model.history_weight("nobody") == 0.0


def test_fit_ignores_events_after_cutoff() -> None:
    events, users, _ = habit_data(n_users=12, days=30, seed=3)
    late = pd.DataFrame(
        {
            "user_id": ["u0"] * 50,
            "ts": [(CUTOFF + pd.Timedelta(hours=i)).isoformat() for i in range(50)],
            "event_type": "app_open",
        }
    )
    both = pd.concat([events, normalize_events(late)], ignore_index=True).sort_values("ts")
    cfg = replace(FAST, use_lgbm=False)
    a = SendTimeModel.fit(events, users, cutoff=CUTOFF, config=cfg, progress=False)
    b = SendTimeModel.fit(both, users, cutoff=CUTOFF, config=cfg, progress=False)
    np.testing.assert_allclose(a.week_curve("u0"), b.week_curve("u0"))
    np.testing.assert_allclose(a.hour_distribution(["u0", "u1"]), b.hour_distribution(["u0", "u1"]))
    assert a.metadata["day_profile"] == b.metadata["day_profile"]


def test_population_share_calibrates_the_probabilities_but_not_the_chosen_hour() -> None:
    # Users whose hours are drawn afresh each day: their own few hours say little about the next.
    ev = random_hours_events(n_users=150, days_each=8, seed=11)
    model = SendTimeModel.fit(ev, cutoff=CUTOFF, config=replace(FAST, min_training_examples=20), progress=False)
    report = model.metadata["day_profile"]
    assert report["pop_share"] >= 0.5, report["log_loss_by_pop_share"]
    unmixed = replace(model, metadata={**model.metadata, "day_profile": {**report, "pop_share": 0.0}})
    ids = model.user_ids[:20]
    shown, chosen_by = model.hour_distribution(ids), model.hour_distribution(ids, calibrated=False)
    np.testing.assert_allclose(chosen_by, unmixed.hour_distribution(ids))
    np.testing.assert_allclose(shown.sum(axis=1), 1.0)
    assert np.all(shown.max(axis=1) < chosen_by.max(axis=1))  # less sure of the user's own hours
    np.testing.assert_array_equal(model.predict_hours(ids), unmixed.predict_hours(ids))
    now = datetime(2024, 3, 1, 6, tzinfo=UTC)
    for uid in ids:
        a, b = model.best_slot(uid, now_utc=now), unmixed.best_slot(uid, now_utc=now)
        assert a is not None and b is not None
        assert a.send_at_utc == b.send_at_utc  # the hour is chosen as before
        assert a.confidence != b.confidence  # and shown with the probabilities the log supports
        assert [p for _, p in a.curve] != [p for _, p in b.curve]
        curve = model.curve(uid, now, hours=len(a.curve))
        np.testing.assert_allclose([p for _, p in curve], [p for _, p in a.curve])
