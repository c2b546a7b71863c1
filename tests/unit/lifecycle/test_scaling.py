"""Big-data behaviour of lifecycle training and scoring: the row cap, the large-data boosting, and
compiled (lleaves) batch scoring that must equal LightGBM and fall back to it."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsvc.compiled_trees import TreeScorer, cache_key
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.eventlog import EventLog
from recsvc.lifecycle.features import FEATURE_NAMES
from recsvc.lifecycle.model import LifecycleModel
from recsvc.lifecycle.train import train_lifecycle

CUT = pd.Timestamp("2024-07-01", tz="UTC")
TINY = LifecycleConfig(max_rounds=6, early_stopping_rounds=3, seed=1, max_train_rows=900)


@pytest.fixture(scope="module")
def tiny(synth_events: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return train_lifecycle(
        EventLog.from_frame(synth_events), out_dir=root, horizon_days=30, cutoff=CUT, config=TINY, progress=False
    )


def test_row_cap_and_small_data_settings(tiny: Path) -> None:
    meta = json.loads((tiny / "metadata.json").read_text())
    assert 0 < meta["n_samples"] <= TINY.max_train_rows
    assert meta["boosting"] == {"learning_rate": 0.05, "num_leaves": 15, "max_rounds": 6, "large_data": False}


def test_large_data_settings_switch_on_row_count(synth_events: pd.DataFrame, tmp_path: Path) -> None:
    cfg = LifecycleConfig(max_rounds=6, early_stopping_rounds=3, large_rows=100, large_max_rounds=4, large_num_leaves=7)
    vdir = train_lifecycle(synth_events, out_dir=tmp_path, horizon_days=30, cutoff=CUT, config=cfg, progress=False)
    meta = json.loads((vdir / "metadata.json").read_text())
    assert meta["boosting"] == {"learning_rate": 0.2, "num_leaves": 7, "max_rounds": 4, "large_data": True}
    assert meta["metrics"]["churn"]["best_iteration"] <= 4


def _features(model: LifecycleModel, synth_events: pd.DataFrame, n: int = 3000) -> pd.DataFrame:
    f = model.features(synth_events, CUT)
    rows = np.random.default_rng(0).integers(0, len(f), n)
    return f.iloc[rows]


def test_compiled_scoring_equals_lightgbm(tiny: Path, synth_events: pd.DataFrame, tmp_path: Path) -> None:
    pytest.importorskip("lleaves")
    fast = LifecycleModel.load(tiny, compiled=True, cache_dir=tmp_path)
    slow = LifecycleModel.load(tiny, compiled=False)
    fast.churn_scorer.min_rows = fast.stage_scorer.min_rows = 1
    feats = _features(fast, synth_events)
    assert fast.compile() and fast.backend == "lleaves" and slow.backend == "lightgbm"
    c1, p1, r1 = fast.score_arrays(feats)
    c2, p2, r2 = slow.score_arrays(feats)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(r1, r2)
    X = feats.to_numpy(np.float64)
    np.testing.assert_allclose(fast.stage_scorer.predict(X), fast.stage_booster.predict(X), atol=1e-6, rtol=0)
    # The object cache is keyed by the model text: present, reused, and rebuilt when damaged.
    cached = sorted(tmp_path.glob("*.o"))
    assert all(Path(f"{p}.sha256").is_file() for p in cached)
    assert len(cached) == 2 and all(cache_key(tiny / "churn.txt")[:8] in p.name for p in cached if "churn" in p.name)
    for p in cached:
        p.write_bytes(b"not an object file")
    again = LifecycleModel.load(tiny, compiled=True, cache_dir=tmp_path)
    assert again.compile()
    np.testing.assert_allclose(again.churn_scorer.predict(X), fast.churn_scorer.predict(X), atol=1e-12, rtol=0)


def test_falls_back_to_lightgbm_without_lleaves(
    tiny: Path, synth_events: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_lleaves(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "lleaves":
            raise ImportError("lleaves not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lleaves)
    model = LifecycleModel.load(tiny, compiled=True, cache_dir=tmp_path)
    model.churn_scorer.min_rows = model.stage_scorer.min_rows = 1
    feats = _features(model, synth_events)
    assert not model.compile() and model.backend == "lightgbm"
    churn, probs, _ = model.score_arrays(feats)
    X = feats.to_numpy(np.float32)
    np.testing.assert_allclose(probs, model.stage_booster.predict(X), atol=1e-12)
    assert churn.shape == (len(feats),) and np.all((churn >= 0) & (churn <= 1))


def test_small_batches_never_compile(tiny: Path, tmp_path: Path) -> None:
    scorer = TreeScorer(
        LifecycleModel.load(tiny, compiled=False).churn_booster, tiny / "churn.txt", cache_dir=tmp_path, min_rows=10
    )
    scorer.predict(np.zeros((3, len(FEATURE_NAMES)), dtype=np.float32))
    assert scorer.backend == "lightgbm" and not list(tmp_path.glob("*.o"))


def test_big_batch_compiles_in_background(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("lleaves")
    booster = LifecycleModel.load(tiny, compiled=False).churn_booster
    scorer = TreeScorer(booster, tiny / "churn.txt", cache_dir=tmp_path, min_rows=10)
    X = np.random.default_rng(0).normal(size=(50, len(FEATURE_NAMES)))
    first = scorer.predict(X)  # LightGBM now, compile started
    assert scorer._thread is not None
    scorer._thread.join(timeout=300)
    assert scorer.backend == "lleaves"
    np.testing.assert_allclose(scorer.predict(X), first, atol=1e-6, rtol=0)
