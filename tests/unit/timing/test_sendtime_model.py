from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from recsvc.data.io import normalize_events, normalize_users
from recsvc.errors import FailedPrecondition
from recsvc.timing.clock import QuietHours
from recsvc.timing.config import TimingConfig
from recsvc.timing.sendtime import SendTimeModel, circular_distance

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")


def habit_data(
    n_users: int = 90, days: int = 70, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Users in three zones who open the app (and pushes) around a personal local hour."""
    rng = np.random.default_rng(seed)
    rows = []
    habit: dict[str, int] = {}
    users = []
    start = CUTOFF - pd.Timedelta(days=days)
    for u in range(n_users):
        uid = f"u{u}"
        zone = ZoneInfo(ZONES[u % 3])
        hour = int(rng.choice([8, 12, 19, 21]))
        habit[uid] = hour
        users.append({"user_id": uid, "timezone": zone.key})
        for d in range(days):
            if rng.random() > 0.35:
                continue
            local_day = (start + pd.Timedelta(days=d)).tz_convert(zone).normalize()
            h = hour if rng.random() < 0.8 else int(rng.integers(8, 23))
            ts = local_day + pd.Timedelta(hours=h, minutes=int(rng.integers(0, 60)))
            et = "push_opened" if rng.random() < 0.3 else "app_open"
            rows.append({"user_id": uid, "ts": ts.tz_convert("UTC").isoformat(), "event_type": et})
    return normalize_events(pd.DataFrame(rows)), normalize_users(pd.DataFrame(users)), habit


FAST = TimingConfig(lgbm_rounds=30, pseudo_cutoffs=4, min_label_window_days=14.0, min_training_examples=50)


@pytest.fixture(scope="module")
def fitted() -> tuple[SendTimeModel, dict[str, int]]:
    events, users, habit = habit_data()
    return SendTimeModel.fit(events, users, cutoff=CUTOFF, config=FAST, progress=False), habit


def test_learns_local_habits(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    ids = list(habit)
    pred = model.predict_hours(ids)
    truth = np.array([habit[u] for u in ids])
    assert np.mean(circular_distance(pred, truth) <= 1) > 0.9
    meta = model.metadata["lgbm"]
    assert "validation" in meta and {"lgbm_hit@1h", "shrunk_hit@1h"} <= set(meta["validation"])
    assert isinstance(meta["used"], bool)


def test_same_local_habit_same_local_slot_across_zones(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    # u0 is in Shanghai, u1 in New York; find a pair with the same habit hour.
    sh = next(u for u in habit if int(u[1:]) % 3 == 0 and habit[u] == 19)
    ny = next(u for u in habit if int(u[1:]) % 3 == 1 and habit[u] == 19)
    now = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
    quiet = QuietHours.parse("22-8")
    a = model.best_slot(
        sh, now_utc=now, tz="Asia/Shanghai", quiet=quiet, window_end_utc=now + timedelta(hours=48)
    )
    b = model.best_slot(
        ny, now_utc=now, tz="America/New_York", quiet=quiet, window_end_utc=now + timedelta(hours=48)
    )
    assert a is not None and b is not None
    assert a.local_hour == b.local_hour == 19
    assert a.send_at_utc != b.send_at_utc
    assert 0 < a.confidence <= 1


def test_no_slot_ever_in_quiet_hours(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, habit = fitted
    rng = np.random.default_rng(1)
    ids = [*habit, "never-seen"]
    zones = [*ZONES, "Asia/Kolkata", "UTC", "Australia/Sydney"]
    for _ in range(300):
        uid = ids[int(rng.integers(len(ids)))]
        zone = zones[int(rng.integers(len(zones)))]
        start, end = sorted(rng.choice(24, 2, replace=False).tolist())
        quiet = QuietHours(int(end), int(start)) if rng.random() < 0.5 else QuietHours(int(start), int(end))
        now = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 60 * 24 * 30)))
        window = timedelta(minutes=int(rng.integers(5, 60 * 30)))
        mode = "defer" if rng.random() < 0.5 else "suppress"
        slot = model.best_slot(
            uid, now_utc=now, tz=zone, quiet=quiet, window_end_utc=now + window, on_all_quiet=mode
        )
        if slot is None:
            assert mode == "suppress"
            continue
        assert not quiet.contains(slot.send_at_utc.astimezone(ZoneInfo(zone)))
        if not slot.deferred:
            assert now <= slot.send_at_utc <= now + window
        else:
            assert slot.send_at_utc >= now + window


def test_unknown_user_gets_population_or_segment_curve(fitted: tuple[SendTimeModel, dict[str, int]]) -> None:
    model, _ = fitted
    start = datetime(2024, 3, 4, tzinfo=UTC)
    curve = model.curve("nobody", start, hours=24, tz="Asia/Shanghai")
    assert len(curve) == 24 and abs(sum(p for _, p in curve) - 1) < 1e-9
    seg = model.week_curve("nobody", segment="tz:Asia/Shanghai")
    assert seg.shape == (168,) and abs(seg.sum() - 1) < 1e-6
    slot = model.best_slot("nobody", now_utc=start, tz="Asia/Shanghai")
    assert slot is not None and model.history_weight("nobody") == 0.0


def test_save_load_roundtrip_and_refusals(
    fitted: tuple[SendTimeModel, dict[str, int]], tmp_path: Path
) -> None:
    model, habit = fitted
    d = model.save(tmp_path / "sendtime" / "v1")
    again = SendTimeModel.load(d)
    ids = list(habit)
    np.testing.assert_allclose(again.hour_distribution(ids), model.hour_distribution(ids), atol=1e-6)
    meta = (d / "metadata.json").read_text()
    (d / "metadata.json").write_text(meta.replace('"format": 2', '"format": 99'))
    with pytest.raises(FailedPrecondition) as err:
        SendTimeModel.load(d)
    assert "metadata.json" in str(err.value)
    with pytest.raises(FailedPrecondition):
        SendTimeModel.load(tmp_path / "missing")


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


def test_save_version_writes_a_timestamped_loadable_dir(
    fitted: tuple[SendTimeModel, dict[str, int]], tmp_path: Path
) -> None:
    model, habit = fitted
    a = model.save_version(tmp_path / "sendtime")
    b = model.save_version(tmp_path / "sendtime")
    assert a.parent == b.parent == tmp_path / "sendtime" and a != b
    assert len(a.name) >= 16 and a.name[8] == "T" and a.name[15] == "Z"
    again = SendTimeModel.load(a)
    assert again.metadata["version"] in (a.name, b.name)
    np.testing.assert_allclose(
        again.hour_distribution(list(habit)), model.hour_distribution(list(habit)), atol=1e-6
    )


def test_learned_forecast_of_app_pushes_never_steers_serving() -> None:
    """Labels that include our own push deliveries must not move the serving curve."""
    events, users, _ = habit_data(n_users=60, days=60, seed=5)
    rng = np.random.default_rng(2)
    pushes = pd.DataFrame(
        {
            "user_id": [f"u{int(rng.integers(60))}" for _ in range(400)],
            "ts": [
                (CUTOFF - pd.Timedelta(days=int(rng.integers(1, 60)), hours=-3)).isoformat()
                for _ in range(400)
            ],
            "event_type": "push_delivered",
        }
    )
    both = pd.concat([events, normalize_events(pushes)], ignore_index=True).sort_values("ts")
    model = SendTimeModel.fit(both, users, cutoff=CUTOFF, config=FAST, progress=False)
    meta = model.metadata["lgbm"]
    assert meta.get("app_initiated_events", 0) > 0
    assert meta.get("serving") is False
    np.testing.assert_allclose(model._hour_adjust("u0"), np.ones(24))
