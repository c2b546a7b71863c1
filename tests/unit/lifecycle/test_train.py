from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifecycle_synth import CFG, CUT

from recsvc.errors import InvalidArgument
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.features import FEATURE_NAMES
from recsvc.lifecycle.model import MODEL_FORMAT, latest
from recsvc.lifecycle.train import _split_rows, train_lifecycle, training_cutoffs


def test_artifact_and_metadata(trained: Path) -> None:
    for name in (
        "churn.txt",
        "stage.txt",
        "calibration.json",
        "bgnbd.json",
        "gapsurv.json",
        "base.json",
        "metadata.json",
    ):
        assert (trained / name).is_file()
    meta = json.loads((trained / "metadata.json").read_text())
    assert meta["feature_names"] == list(FEATURE_NAMES) and meta["format"] == MODEL_FORMAT
    # Pareto/NBD is a churn-evaluation baseline only: no model feature, no stored fit.
    assert not any(n.startswith("pnbd_") for n in meta["feature_names"])
    assert not (trained / "paretonbd.json").exists() and "paretonbd.json" not in meta.get("files", {})
    assert all(
        pd.Timestamp(c["cutoff"]) + pd.Timedelta(days=c["label_horizon_days"]) <= CUT
        for c in meta["training_window"]["cutoffs"]
    )  # no label reaches past the cut-off
    churn = meta["metrics"]["churn"]
    assert churn["auc"] > 0.65  # synthetic users do drop out; features must see it
    assert 0 <= churn["brier"] < churn["base_rate"] * (1 - churn["base_rate"]) + 0.02
    assert sum(r["n"] for r in churn["reliability"]) == churn["n_valid"]
    assert 0 <= churn["expected_calibration_error"] < 0.1
    # The trees only add to the base: on the time split the sum ranks at least as well as the base alone.
    assert churn["auc"] >= churn["auc_base_alone"] - 0.01
    assert json.loads((trained / "calibration.json").read_text())["method"] == "platt"
    assert {"macro_f1", "macro_f1_rules_alone"} <= set(meta["metrics"]["stage"])
    assert latest(trained.parent) == trained


def test_training_never_fits_paretonbd(
    synth_events: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pareto/NBD doubled the demo's training time for no AUC: the training path must not fit it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("training fitted Pareto/NBD")

    monkeypatch.setattr("recsvc.lifecycle.features.fit_paretonbd", refuse)
    out = train_lifecycle(
        synth_events, out_dir=tmp_path / "lifecycle", horizon_days=30, cutoff=CUT, config=CFG, progress=False
    )
    assert json.loads((out / "metadata.json").read_text())["feature_names"] == list(FEATURE_NAMES)


def test_cutoffs() -> None:
    first = pd.Timestamp("2024-01-01", tz="UTC")
    end = pd.Timestamp("2024-07-01", tz="UTC")
    cuts = training_cutoffs(first, end, 30, LifecycleConfig())
    assert len(cuts) == LifecycleConfig().max_cutoffs and all(h == 30 for _, h in cuts)
    assert all(c + pd.Timedelta(days=h) <= end for c, h in cuts)
    # Too short for full horizons: shorter labels that still end at the cut-off.
    short = training_cutoffs(first, end, 170, LifecycleConfig())
    assert short and all(c + pd.Timedelta(days=h) == end for c, h in short if h < 170)
    assert all(h >= 0.25 * 170 for _, h in short)


def test_train_errors(synth_events: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cut-off"):
        train_lifecycle(
            synth_events,
            out_dir=tmp_path,
            horizon_days=30,
            cutoff=pd.Timestamp("2020-01-01"),
            config=CFG,
            progress=False,
        )
    with pytest.raises(InvalidArgument, match="too short"):
        train_lifecycle(synth_events, out_dir=tmp_path, horizon_days=2000, cutoff=CUT, config=CFG, progress=False)


def test_split_purges_training_labels_that_overlap_the_validation_window() -> None:
    """Early stopping trains only on cut-offs whose label window ends by the validation cut-off."""
    start = pd.Timestamp("2024-01-01", tz="UTC")
    cutoffs = [(start + pd.Timedelta(days=7 * i), 30.0) for i in range(6)]  # validation: day 35
    group = np.repeat(np.arange(6), 10)
    y = np.tile(np.r_[np.zeros(5), np.ones(5)], 6).astype(np.int8)
    train, valid = _split_rows(group, y, 0, cutoffs)
    assert set(group[valid]) == {5} and set(group[train]) == {0}  # day 0 + 30 <= 35 only
    # Without a purged cut-off holding both labels, every earlier cut-off trains.
    y2 = y.copy()
    y2[group == 0] = 1
    train, valid = _split_rows(group, y2, 0, cutoffs)
    assert set(group[train]) == {0, 1, 2, 3, 4}


def test_split_by_users_when_no_label_window_ends_before_validation() -> None:
    """Short logs (every label window ends at the training cut-off): disjoint users train and validate."""
    start = pd.Timestamp("2024-01-01", tz="UTC")
    cutoffs = [(start + pd.Timedelta(days=7 * i), 30.0 - 7 * i) for i in range(4)]  # all end on day 30
    group = np.repeat(np.arange(4), 40)
    users = np.tile(np.array([f"u{i}" for i in range(40)], dtype=object), 4)
    y = np.tile(np.r_[np.zeros(20), np.ones(20)], 4).astype(np.int8)
    train, valid = _split_rows(group, y, 0, cutoffs, users)
    assert set(group[valid]) == {3} and set(group[train]) <= {0, 1, 2}
    assert not set(users[train]) & set(users[valid])
    assert train.sum() > 0 and valid.sum() > 0
