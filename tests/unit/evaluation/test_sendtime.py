from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsvc.data.convert import Dataset, load_dataset
from recsvc.data.io import normalize_events, normalize_users
from recsvc.evaluation.cutoffs import run_cutoffs
from recsvc.evaluation.sendtime import METRICS, evaluate_sendtime
from recsvc.timing.config import TimingConfig

CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")
FAST = TimingConfig(lgbm_rounds=30, pseudo_cutoffs=4, min_training_examples=50)


def _habit_dataset(seed: int = 0, n_users: int = 80) -> Dataset:
    """Users with a personal local hour (70% of visits), written in their own UTC offset or zone."""
    rng = np.random.default_rng(seed)
    rows, users = [], []
    for u in range(n_users):
        hour = int(rng.integers(0, 24))
        zone = ["Asia/Shanghai", "America/New_York", ""][u % 3]
        users.append({"user_id": f"u{u}", "timezone": zone})
        for d in range(-60, 20):
            if rng.random() > 0.3:
                continue
            h = hour if rng.random() < 0.7 else int(rng.integers(0, 24))
            local = CUTOFF.tz_convert(zone or "UTC").normalize() + pd.Timedelta(days=d, hours=h, minutes=5)
            # Users without a zone write timestamps with a +08:00 offset: truth is read in that clock.
            text = (
                local.tz_convert("UTC").isoformat()
                if zone
                else (local.tz_localize(None) + pd.Timedelta(0)).isoformat() + "+08:00"
            )
            rows.append({"user_id": f"u{u}", "ts": text, "event_type": "app_open"})
    return Dataset(normalize_events(pd.DataFrame(rows)), None, normalize_users(pd.DataFrame(users)), "habits")


def test_evaluate_sendtime_on_habits_beats_population() -> None:
    res = evaluate_sendtime(_habit_dataset(), CUTOFF, progress=False, config=FAST)
    assert set(res) >= {"hit@1h", "log_loss", "n_users", "baselines", "baselines_log_loss"}
    assert res["n_users"] > 50
    assert res["hit@1h"] > res["baselines"]["population"] + 0.3
    assert res["hit@1h"] >= res["baselines"]["user_mode"] - 0.05
    assert res["log_loss"] < res["baselines_log_loss"]["population"]
    assert "lgbm_hit@1h" in res["validation"] or res["validation"] == {}


def _hand_log() -> Dataset:
    """Hand-made habits, in UTC: 'wide' users visit twice at 03h and once each at 14h, 15h and 16h,
    then come back at 15h: the plain arg-max says 03h, the +/- 1 h window says 15h. 'pushed' users
    visit at 20h; after the cut-off a push is delivered at 09h and they open the app at 20h. 'silent'
    users only receive a push after the cut-off."""
    day = pd.Timedelta(days=1)
    rows = []

    def add(u: str, when: pd.Timestamp, event_type: str = "app_open") -> None:
        rows.append({"user_id": u, "ts": when.isoformat(), "event_type": event_type})

    for k in range(12):
        wide, pushed, silent = f"wide{k}", f"pushed{k}", f"silent{k}"
        for d, h in ((-20, 3), (-13, 3), (-11, 14), (-8, 15), (-5, 16)):
            add(wide, CUTOFF + d * day + pd.Timedelta(hours=h, minutes=10))
        add(wide, CUTOFF + 2 * day + pd.Timedelta(hours=15, minutes=30))
        for d in (-15, -9, -4):
            add(pushed, CUTOFF + d * day + pd.Timedelta(hours=20, minutes=5))
            add(silent, CUTOFF + d * day + pd.Timedelta(hours=11))
        add(pushed, CUTOFF + day + pd.Timedelta(hours=9), "push_delivered")
        add(pushed, CUTOFF + day + pd.Timedelta(hours=20, minutes=40))
        add(silent, CUTOFF + day + pd.Timedelta(hours=9), "push_delivered")
    return Dataset(normalize_events(pd.DataFrame(rows)), None, None, "hand-made")


def test_user_mode_uses_the_metric_window_and_truth_is_the_first_activity() -> None:
    res = evaluate_sendtime(_hand_log(), CUTOFF, progress=False, config=FAST)
    assert res["n_users"] == 24  # silent users have no activity after the cut-off: not judged
    # Every judged user's truth is their own habit hour (15h, 20h), not our push at 09h.
    assert res["baselines"]["user_mode"] == 1.0
    assert res["baselines"]["user_mode_argmax"] == 0.5  # the plain arg-max misses every 'wide' user


def test_evaluate_refuses_cutoff_without_both_sides() -> None:
    from recsvc.errors import FailedPrecondition

    with pytest.raises(FailedPrecondition):
        evaluate_sendtime(_habit_dataset(n_users=5), "2030-01-01", progress=False, config=FAST)


ML_CUTOFFS = [
    pd.Timestamp(f"{month}-{day}", tz="UTC")
    for month in ("1997-12", "1998-01", "1998-02", "1998-03")
    for day in ("01", "15")
]


@pytest.fixture(scope="module")
def movielens_runs(data_dir: Path) -> dict[str, Any]:
    """The README's MovieLens send-time run: eight cut-offs two weeks apart."""
    folder = data_dir / "ml-100k"
    if not folder.exists():
        pytest.skip(f"MovieLens 100K not found at {folder} (set RECSVC_DATA_DIR)")
    ds = load_dataset(folder)
    return run_cutoffs(lambda c: evaluate_sendtime(ds, c, progress=False), ML_CUTOFFS, METRICS)


@pytest.mark.slow
def test_movielens_sendtime_beats_the_users_window_mode_on_average(movielens_runs: dict[str, Any]) -> None:
    margin = movielens_runs["summary"]["metrics"]["hit@1h"]["margins"]["user_mode"]
    assert margin["mean"] > 0.0, margin
    # The guard: a cut-off where tuning did not beat the plain habit out of fold serves the plain habit.
    for res in movielens_runs["per_cutoff"]:
        if not res["day_profile"]["used"]:
            assert res["hit@1h"] == pytest.approx(res["baselines"]["user_mode"]), res["cutoff"]


@pytest.mark.slow
def test_movielens_hour_probabilities_beat_the_populations_at_every_cutoff(movielens_runs: dict[str, Any]) -> None:
    # A plain habit of a few bursts of ratings gives the hours a user has not used yet almost no
    # probability: its log-loss was 5.2-6.0 where the population's is about 3.1. The share of the
    # population chosen on the pseudo cut-offs must make the served probabilities the better ones.
    for res in movielens_runs["per_cutoff"]:
        assert res["log_loss"] < res["baselines_log_loss"]["population"], (res["cutoff"], res["day_profile"])
        assert res["log_loss"] < res["baselines_log_loss"]["user_mode"], res["cutoff"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="target missed: over the 8 README cut-offs recsvc's hit@1h is 0.303 against 0.284 for the best "
    "baseline (the user's arg-max hour), margin +0.019 [-0.019, +0.056] (README); the tuned habit profile "
    "(the first activity of each day) served at 4 of 8 cut-offs, the plain habit at the others",
)
def test_movielens_sendtime_beats_best_baseline_by_the_target(movielens_runs: dict[str, Any]) -> None:
    best = movielens_runs["summary"]["metrics"]["hit@1h"]["margin_over_best"]
    assert best["mean"] >= 0.02, best


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="target missed at this cut-off: the learned hour choice scored 0.474 against 0.466 for the user's best "
    "hour within +/- 1 h on 2,705 users at 2026-10-25 (margin +0.008); over 8 weekly cut-offs of this demo the "
    "mean margin is +0.020 [+0.014, +0.027] (README): the mean meets +0.02, this cut-off does not",
)
def test_demo_sendtime_beats_best_baseline(tmp_path: Path) -> None:
    """The README's demo row: `recsvc demo-data --end 2026-11-24` (5,000 users, seed 42) at 2026-10-25."""
    from datetime import UTC, datetime

    from recsvc.data.demo import generate_demo

    generate_demo(tmp_path, n_users=5000, seed=42, end=datetime(2026, 11, 24, tzinfo=UTC), progress=False)
    ds = load_dataset(tmp_path / "events.csv.gz", users=tmp_path / "users.csv")
    res = evaluate_sendtime(ds, "2026-10-25", progress=False)
    assert res["n_users"] > 2000
    best = max(res["baselines"].values())
    assert res["hit@1h"] >= best + 0.02, res
