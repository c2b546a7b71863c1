"""The learned hour choice: what it reads, when it serves, and what it changes in the model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.timing.config import TimingConfig
from recsvc.timing.dayprofile import PLAIN, ProfileParams, choose
from recsvc.timing.history import event_frame
from recsvc.timing.hitscorer import feature_names, fit_hit_scorer, hour_features
from recsvc.timing.hours import circular_distance
from recsvc.timing.sendtime import SendTimeModel
from tests.unit.timing.conftest import random_hours_events

CUT = pd.Timestamp("2024-03-01", tz="UTC")
CFG = TimingConfig(use_lgbm=False, min_training_examples=20, hit_scorer_min_examples=200)
RETURN_HOUR = 10  # the hour every user comes back at after a break (a weekly digest, say)


def _breaks_log(n_users: int = 240, seed: int = 1) -> tuple[pd.DataFrame, dict[str, int], dict[str, bool]]:
    """Users active most days at their own hour, who now and then take a break of one to three
    weeks and always come back at ``RETURN_HOUR``; whether each is on a break at ``CUT``."""
    rng = np.random.default_rng(seed)
    rows, habit, away = [], {}, {}
    for u in range(n_users):
        uid = f"u{u}"
        habit[uid] = int(rng.choice([15, 18, 21]))
        on_break_until = -(10**6)
        returned = False
        for d in range(-200, 30):
            if d < on_break_until:
                continue
            if d == on_break_until:
                returned = True
            if d < 0 and not returned and rng.random() < 0.07:
                on_break_until = d + int(rng.integers(8, 22))
                continue
            day = CUT + pd.Timedelta(days=d)
            if returned:
                rows.append((uid, day + pd.Timedelta(hours=RETURN_HOUR, minutes=int(rng.integers(50)))))
                returned = False
            if rng.random() < 0.9:
                rows.append((uid, day + pd.Timedelta(hours=habit[uid], minutes=int(rng.integers(50)))))
        away[uid] = on_break_until > 0
    df = pd.DataFrame([{"user_id": u, "ts": t.isoformat(), "event_type": "app_open"} for u, t in rows])
    return normalize_events(df), habit, away


def test_features_have_their_names_and_never_read_the_instant_or_after() -> None:
    ev, _, _ = _breaks_log(n_users=20)
    fr = event_frame(ev, {}, CFG, keep_zero=True)
    rows = np.arange(len(fr.user_ids))
    x = hour_features(fr, CUT.timestamp(), rows, PLAIN, CFG)
    assert x.shape == (len(rows), 24, len(feature_names()))
    before = event_frame(ev[ev["ts"] < CUT], {}, CFG, fr.user_ids, keep_zero=True)
    np.testing.assert_array_equal(x, hour_features(before, CUT.timestamp(), rows, PLAIN, CFG))


def test_serves_where_idleness_decides_the_hour_and_picks_it() -> None:
    ev, habit, away = _breaks_log()
    before = ev[ev["ts"] < CUT]
    model = SendTimeModel.fit(before, cutoff=CUT, config=CFG, progress=False)
    report = model.metadata["hit_scorer"]
    assert report["used"], report
    assert report["validation"]["gain"] > 0.05 and model.hit_score is not None
    ids = model.user_ids
    pred = dict(zip(ids, model.predict_hours(ids).tolist(), strict=True))
    on_break = [u for u in ids if away[u]]
    active = [u for u in ids if not away[u]]
    assert len(on_break) >= 10 and len(active) >= 50
    # Users away at the cut-off come back at the return hour; the habit profile alone says their habit.
    assert np.mean([circular_distance(pred[u], RETURN_HOUR) <= 1 for u in on_break]) > 0.8
    assert np.mean([circular_distance(pred[u], habit[u]) <= 1 for u in active]) > 0.8
    plain = SendTimeModel.fit(before, cutoff=CUT, config=replace(CFG, use_hit_scorer=False), progress=False)
    assert plain.hit_score is None and "hit_scorer" not in plain.metadata
    plain_pred = dict(zip(ids, plain.predict_hours(ids).tolist(), strict=True))
    assert np.mean([circular_distance(plain_pred[u], RETURN_HOUR) <= 1 for u in on_break]) < 0.5
    # The send goes out at the learned hour too, and the probabilities shown stay the profile's.
    uid = on_break[0]
    slot = model.best_slot(uid, now_utc=datetime(2024, 3, 1, 0, 30, tzinfo=UTC), quiet=None)
    assert slot is not None and circular_distance(slot.local_hour, RETURN_HOUR) <= 1
    np.testing.assert_allclose(model.hour_distribution([uid]), plain.hour_distribution([uid]), atol=1e-6)
    now = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    shown, plain_shown = model.curve(uid, now, hours=24), plain.curve(uid, now, hours=24)
    np.testing.assert_allclose([p for _, p in shown], [p for _, p in plain_shown], atol=1e-6)


def test_refuses_where_nothing_beats_the_tuned_profile() -> None:
    fr = event_frame(random_hours_events(n_users=200, days_each=30, seed=4), {}, CFG, keep_zero=True)
    tuned, _ = choose(fr, CUT.timestamp(), CFG)
    scores, report = fit_hit_scorer(fr, CUT.timestamp(), tuned, CFG)
    assert scores is None and not report["used"], report
    few = replace(CFG, hit_scorer_min_examples=10**9)
    scores, report = fit_hit_scorer(fr, CUT.timestamp(), ProfileParams(), few)
    assert scores is None and "too few" in report["reason"]


def test_the_learned_choice_survives_a_save_and_load(tmp_path: Path) -> None:
    ev, _, _ = _breaks_log(n_users=120)
    model = SendTimeModel.fit(ev[ev["ts"] < CUT], cutoff=CUT, config=CFG, progress=False)
    assert model.hit_score is not None
    loaded = SendTimeModel.load(model.save(tmp_path / "st"))
    assert loaded.hit_score is not None
    np.testing.assert_array_equal(loaded.hit_score, model.hit_score)
    np.testing.assert_array_equal(loaded.predict_hours(model.user_ids), model.predict_hours(model.user_ids))
