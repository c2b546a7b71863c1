from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recsvc.data.convert import Dataset, load_dataset
from recsvc.data.io import normalize_events
from recsvc.errors import InvalidArgument
from recsvc.evaluation.churn import churn_labels, evaluate_churn
from recsvc.lifecycle.config import LifecycleConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lifecycle"))
from lifecycle_synth import synthetic_events

FAST = LifecycleConfig(max_rounds=60, early_stopping_rounds=10)


@pytest.fixture(scope="module")
def synth() -> Dataset:
    return Dataset(events=synthetic_events(n_users=300, seed=5), name="synthetic")


def test_synthetic_report(synth: Dataset) -> None:
    r = evaluate_churn(synth, pd.Timestamp("2024-07-01", tz="UTC"), 30, progress=False, config=FAST)
    assert {"auc", "pr_auc", "brier", "n_users", "churn_rate", "baselines"} <= set(r)
    base = r["baselines"]
    assert set(base) == {
        "bgnbd_p_no_purchase",
        "bgnbd_expected_purchases",
        "bgnbd_1_minus_p_alive",
        "paretonbd_p_no_purchase",
        "paretonbd_expected_purchases",
        "paretonbd_1_minus_p_alive",
        "recency",
        "frequency",
    }
    # P(no purchase in the horizon) is BG/NBD's churn score; 1 - P(alive) misranks one-time buyers.
    assert base["bgnbd_p_no_purchase"] > max(0.6, base["bgnbd_1_minus_p_alive"])
    # Pareto/NBD's P(no purchase in the horizon) is reported beside BG/NBD's and ranks like a churn score.
    assert base["paretonbd_p_no_purchase"] > 0.6
    assert r["auc"] > 0.7 and 0 < r["churn_rate"] < 1
    # Calibration on the judged users: the reliability bins hold every user, the risk is calibrated.
    assert sum(b["n"] for b in r["reliability"]) == r["n_users"]
    assert all(0 <= b["mean_predicted"] <= 1 and 0 <= b["observed_rate"] <= 1 for b in r["reliability"])
    assert r["brier"] < r["brier_base_rate"] and 0 <= r["expected_calibration_error"] < 0.15
    # Users = everyone with an event before the cut-off (every synthetic user has an activity).
    ev = synth.events
    assert r["n_users"] == ev.loc[ev["ts"] < pd.Timestamp("2024-07-01", tz="UTC"), "user_id"].nunique()


def test_pushes_are_not_activity(synth: Dataset) -> None:
    """A push delivered is ours: it neither makes a user judged nor keeps a user from churning."""
    cut = pd.Timestamp("2024-07-01", tz="UTC")
    extra = normalize_events(
        pd.DataFrame(
            [
                {"user_id": "only-pushed", "ts": "2024-06-20", "event_type": "push_delivered"},
                {"user_id": "only-pushed", "ts": "2024-07-05", "event_type": "push_delivered"},
                {"user_id": "gone", "ts": "2024-06-01", "event_type": "purchase", "value": 10.0},
                {"user_id": "gone", "ts": "2024-07-03", "event_type": "push_delivered"},
                {"user_id": "back", "ts": "2024-06-01", "event_type": "view"},
                {"user_id": "back", "ts": "2024-07-03", "event_type": "push_opened"},
            ]
        )
    )
    ev = pd.concat([synth.events, extra], ignore_index=True)
    y = churn_labels(ev, cut, 30)
    assert "only-pushed" not in y.index
    assert y["gone"] == 1 and y["back"] == 0
    r = evaluate_churn(Dataset(events=ev, name="synthetic+"), cut, 30, progress=False, config=FAST)
    assert r["n_users"] == len(y) == synth.events.loc[synth.events["ts"] < cut, "user_id"].nunique() + 2


def test_errors(synth: Dataset) -> None:
    with pytest.raises(InvalidArgument, match="outside the data range"):
        evaluate_churn(synth, pd.Timestamp("2030-01-01"), 30, progress=False, config=FAST)
    with pytest.raises(InvalidArgument, match="outside the data range"):
        evaluate_churn(synth, pd.Timestamp("2023-01-01"), 30, progress=False, config=FAST)
    with pytest.raises(InvalidArgument, match="horizon"):
        evaluate_churn(synth, pd.Timestamp("2024-07-01"), 0, progress=False, config=FAST)
    with pytest.raises(InvalidArgument):
        evaluate_churn(Dataset(events=synth.events.iloc[:0]), pd.Timestamp("2024-07-01"), 30, progress=False)


def _real(data_dir: Path, rel: str) -> Dataset:
    path = data_dir / rel
    if not path.exists():
        pytest.skip(f"{path} not found; set RECSVC_DATA_DIR to the shared data folder")
    return load_dataset(path)


def _margin(r: dict[str, Any]) -> float:
    return float(r["auc"]) - max(r["baselines"].values())


@pytest.mark.slow
def test_movielens_beats_baselines_by_002(data_dir: Path) -> None:
    r = evaluate_churn(_real(data_dir, "ml-100k"), pd.Timestamp("1998-03-01"), 60, progress=False)
    assert _margin(r) >= 0.02, r


@pytest.fixture(scope="module")
def cdnow_classic(data_dir: Path) -> dict[str, Any]:
    """The classic CDNOW split: calibrate to 1997-10-01, judge the next 273 days."""
    return evaluate_churn(_real(data_dir, "cdnow/CDNOW_master.txt"), pd.Timestamp("1997-10-01"), 273, progress=False)


@pytest.mark.slow
def test_cdnow_beats_baselines(cdnow_classic: dict[str, Any]) -> None:
    assert _margin(cdnow_classic) > 0.0, cdnow_classic


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured AUC 0.7715 against 0.7687 for minus Pareto/NBD's expected purchases in the horizon "
    "(margin +0.0028, below the +0.01 target); see the README churn table",
)
def test_cdnow_beats_baselines_by_001(cdnow_classic: dict[str, Any]) -> None:
    assert _margin(cdnow_classic) >= 0.01, cdnow_classic
