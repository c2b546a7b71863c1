from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifecycle_synth import CUT

from recsvc.errors import FailedPrecondition, InvalidArgument, Status
from recsvc.lifecycle.base import BASE_INPUTS
from recsvc.lifecycle.calibration import calibrate_logit
from recsvc.lifecycle.features import FEATURE_NAMES
from recsvc.lifecycle.model import MODEL_FORMAT, LifecycleModel, latest
from recsvc.lifecycle.reasons import phrase
from recsvc.vocabulary import Stage


def test_scoring_and_reasons(trained: Path, synth_events: pd.DataFrame) -> None:
    model = LifecycleModel.load(trained)
    feats = model.features(synth_events, CUT, users=["u1", "u2", "u3", "nobody"])
    churn, probs, rules = model.score_arrays(feats)
    assert churn.shape == (4,) and probs.shape == (4, 5) and rules.shape == (4,)
    assert np.all((churn >= 0) & (churn <= 1)) and np.allclose(probs.sum(axis=1), 1.0)
    scores = model.score(feats)
    assert [s.user_id for s in scores] == ["u1", "u2", "u3", "nobody"]
    assert scores[3].rule_stage == Stage.AWARENESS
    # Contributions (trees plus the base's terms, bias last) add up to the churn log-odds before calibration.
    logit = model.churn_booster.predict(feats.to_numpy(np.float32), raw_score=True) + model.base.logit(feats)
    contrib = model.churn_contributions(feats)
    np.testing.assert_allclose(contrib.sum(axis=1), logit, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(churn, calibrate_logit(model.calibration, logit), rtol=1e-9)
    for i, s in enumerate(scores):
        assert 1 <= len(s.reasons) <= 3
        mags = [abs(r.contribution) for r in s.reasons]
        assert mags == sorted(mags, reverse=True)
        has_data = ~np.isnan(feats.to_numpy(np.float64)[i])  # features without data are never a reason
        assert mags[0] == pytest.approx(np.abs(contrib[i, :-1])[has_data].max(), rel=1e-6)
        assert all(r.text and r.feature in FEATURE_NAMES for r in s.reasons)
        assert sum(s.stage_probs.values()) == pytest.approx(1.0)
    # Without reasons (batch campaigns show none): the same scores and stages.
    bare = model.score(feats, reasons=False)
    assert [dataclasses.replace(s, reasons=[]) for s in scores] == bare
    # Column order must not matter; missing columns are refused.
    churn2, _, _ = model.score_arrays(feats[list(reversed(feats.columns))])
    np.testing.assert_allclose(churn, churn2)
    with pytest.raises(InvalidArgument):
        model.score_arrays(feats.drop(columns=["recency_days"]))


def test_scores_without_reasons_are_the_same_scores(trained: Path, synth_events: pd.DataFrame) -> None:
    model = LifecycleModel.load(trained)
    feats = model.features(synth_events, CUT, users=["u1", "u2", "u3", "nobody"])
    full, bare = model.score(feats), model.score(feats, reasons=False)
    assert all(s.reasons for s in full) and not any(s.reasons for s in bare)
    assert [replace(s, reasons=[]) for s in full] == bare


def test_loader_refuses_mismatch(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "v1"
    shutil.copytree(trained, bad)
    meta = json.loads((bad / "metadata.json").read_text())
    meta["feature_names"] = meta["feature_names"][::-1]
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(FailedPrecondition, match=re.escape(str(bad))):
        LifecycleModel.load(bad)
    meta["feature_names"] = list(FEATURE_NAMES)
    meta["format"] = 999
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(FailedPrecondition, match=r"format.*retrain"):
        LifecycleModel.load(bad)
    meta["format"] = MODEL_FORMAT
    (bad / "metadata.json").write_text(json.dumps(meta))
    (bad / "stage.txt").unlink()
    with pytest.raises(FailedPrecondition, match=r"stage\.txt"):
        LifecycleModel.load(bad)
    with pytest.raises(FailedPrecondition, match="metadata"):
        LifecycleModel.load(tmp_path / "absent")
    with pytest.raises(FailedPrecondition):
        latest(tmp_path / "empty")


def _rewrite(vdir: Path, name: str, content: str) -> None:
    """Change one artifact file and its checksum, as an artifact of another code version would be."""
    (vdir / name).write_text(content)
    meta = json.loads((vdir / "metadata.json").read_text())
    data = (vdir / name).read_bytes()
    meta["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (vdir / "metadata.json").write_text(json.dumps(meta))


def test_old_artifacts_are_refused_with_retrain(trained: Path, tmp_path: Path) -> None:
    """An artifact of the previous format (no churn base, isotonic calibration, fewer features) is a
    FAILED_PRECONDITION that asks for retraining, never a crash or a silently wrong score."""
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    meta = json.loads((old / "metadata.json").read_text())
    meta["format"] = 1
    meta["feature_names"] = [n for n in FEATURE_NAMES if n != "bgnbd_p_zero_h"]
    (old / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(FailedPrecondition, match="retrain") as err:
        LifecycleModel.load(old)
    assert err.value.status == Status.FAILED_PRECONDITION
    for name, content in (
        ("calibration.json", json.dumps({"method": "isotonic", "x": [0.0, 1.0], "y": [0.1, 0.9]})),
        ("base.json", json.dumps({"format": 0, "inputs": ["recency_days"]})),
        ("base.json", "{not json"),
    ):
        damaged = tmp_path / f"damaged-{name}-{len(content)}"
        shutil.copytree(trained, damaged)
        _rewrite(damaged, name, content)
        with pytest.raises(FailedPrecondition, match="retrain"):
            LifecycleModel.load(damaged)
    missing = tmp_path / "no-base"
    shutil.copytree(trained, missing)
    (missing / "base.json").unlink()
    with pytest.raises(FailedPrecondition, match=r"base\.json"):
        LifecycleModel.load(missing)


def test_reasons_name_the_base_inputs(trained: Path, synth_events: pd.DataFrame) -> None:
    """The base's terms land on its own features, so a reason can be, e.g., the BG/NBD horizon score."""
    model = LifecycleModel.load(trained)
    feats = model.features(synth_events, CUT)
    contrib = model.churn_contributions(feats)[:, :-1]
    tree_only = np.asarray(model.churn_booster.predict(model._matrix(feats), pred_contrib=True))[:, :-1]
    moved = {FEATURE_NAMES[j] for j in np.flatnonzero(np.abs(contrib - tree_only).max(axis=0) > 0)}
    assert moved == set(BASE_INPUTS)
    named = {r.feature for s in model.score(feats.iloc[:200]) for r in s.reasons}
    assert named & set(BASE_INPUTS)
    assert all(phrase(n, {n: 0.5, "recency_days": 3.0}) for n in BASE_INPUTS)


def test_phrases_read_well() -> None:
    v = {
        "recency_days": 45.2,
        "gap_mean_days": 6.1,
        "opens_last5": 0.0,
        "pushes_last5": 5.0,
        "cart_open_items": 2.0,
        "trend_30d": float(np.log(0.25)),
        "n_events_30d": 3.0,
    }
    assert phrase("recency_days", v) == "no activity for 45 days (usually every 6 days)"
    assert phrase("opens_last5", v) == "opened 0 of the last 5 pushes"
    assert phrase("cart_open_items", v) == "2 item(s) left in the cart"
    assert "25%" in phrase("trend_30d", v)
    assert phrase("n_events_30d", v) == "3 actions in the last 30 days"


def test_scoring_matrix_is_exact_for_float32_and_mixed_frames(trained: Path) -> None:
    """The fast float32 path must give the same float64 matrix as pandas' conversion, in C order."""
    model = LifecycleModel.load(trained)
    rng = np.random.default_rng(3)
    f32 = pd.DataFrame({c: rng.random(50).astype(np.float32) for c in FEATURE_NAMES})
    f32.iloc[3, 2] = np.nan
    mixed = f32.astype({FEATURE_NAMES[0]: np.float64})
    mixed.iloc[0, 0] = 0.1  # not representable in float32: the mixed path must keep it
    for frame in (f32, mixed):
        got = model._matrix(frame)
        want = np.ascontiguousarray(frame.loc[:, list(FEATURE_NAMES)].to_numpy(np.float64))
        assert got.flags["C_CONTIGUOUS"] and got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
