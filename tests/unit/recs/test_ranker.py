"""The ranker's compiled trees (batch runs) score as LightGBM does, and fall back to it when they cannot
compile; the blend with EASE's order is chosen on held-out groups and applied when scoring."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsvc.recs.ranker import (
    _EASE_COL,
    _TOUCHED_COL,
    FEATURE_NAMES,
    Ranker,
    binary_ndcg,
    choose_ease_weight,
    ease_blend,
)


def _features(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.gamma(1.0, 1.0, size=(n, len(FEATURE_NAMES)))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the trees' default branches
    return x


def test_compiled_ranker_scores_equal_lightgbm(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lleaves")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # this test owns its compiled object
    plain = Ranker.load(model_dir, expect_booster=True)
    compiled = Ranker.load(model_dir, expect_booster=True)
    assert compiled.compile()
    x = _features(300)
    want, got = plain.score(x), compiled.score(x)
    assert not np.allclose(want, want[0])  # the trees do tell these rows apart
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert list((tmp_path / "recsvc" / "lleaves").glob("ranker-*.o"))  # cached for the next process


def test_a_ranker_that_cannot_compile_keeps_scoring_with_lightgbm(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real_import = builtins.__import__

    def no_lleaves(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "lleaves":
            raise ImportError("no lleaves here")
        return real_import(name, *args, **kwargs)

    plain = Ranker.load(model_dir, expect_booster=True)
    monkeypatch.setattr(builtins, "__import__", no_lleaves)
    ranker = Ranker.load(model_dir, expect_booster=True)
    assert ranker.compile() is False
    x = _features(50)
    np.testing.assert_array_equal(ranker.score(x), plain.score(x))


def _groups_with_ease(ease_good: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Four groups of five candidates, one positive each; the ranker's scores put it first, and the
    EASE score puts it first too (``ease_good``) or last."""
    rng = np.random.default_rng(3)
    x = rng.random((20, len(FEATURE_NAMES)))
    x[:, _TOUCHED_COL] = 0.0  # discovery candidates, the ones EASE may order
    y = np.zeros(20)
    pred = rng.random(20)
    for g in range(4):
        pos = g * 5 + g  # a different place in each group
        y[pos] = 1.0
        pred[pos] = 2.0
        x[g * 5 : g * 5 + 5, _EASE_COL] = 0.5
        x[pos, _EASE_COL] = 1.0 if ease_good else 0.0
    return pred, x, y, np.full(4, 5)


def test_binary_ndcg_counts_any_positive_label_as_one_hit() -> None:
    y = np.array([3.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    want = (1.0 + 1.0 / np.log2(4)) / (1.0 + 1.0 / np.log2(3))
    assert binary_ndcg(scores, y, np.array([3, 3])) == pytest.approx(want / 2)  # group 2: no positive


def test_ease_weight_is_chosen_on_held_out_groups_and_used_when_scoring(model_dir: Path) -> None:
    pred, x, y, groups = _groups_with_ease(ease_good=False)
    assert choose_ease_weight(pred, x, y, groups)[0] == 0.0  # the ranker is right, EASE is wrong
    noise = np.random.default_rng(4).random(20)
    weight, tried = choose_ease_weight(noise, *_groups_with_ease(ease_good=True)[1:])
    assert weight > 0.0 and tried[str(weight)] == pytest.approx(1.0)
    # a ranker told to follow EASE alone serves EASE's order
    ranker = Ranker.load(model_dir, expect_booster=True)
    xs = _features(30)
    xs[:, _EASE_COL] = np.arange(30.0)
    xs[:, _TOUCHED_COL] = 0.0
    ranker.metrics["ease_weight"] = 1.0
    assert np.argsort(-ranker.score(xs)).tolist() == list(range(29, -1, -1))
    # the user's own items (cart, repurchase) keep the booster's place: EASE only orders discovery
    few = np.zeros((4, len(FEATURE_NAMES)))
    few[:, _EASE_COL] = [0.0, 3.0, 2.0, 1.0]  # EASE: 1, 2, 3, 0
    few[0, _TOUCHED_COL] = 1.0  # an item in the cart: the booster puts it first
    blended = ease_blend(np.array([4.0, 1.0, 2.0, 3.0]), few, 1.0)
    assert np.argsort(-blended, kind="stable").tolist() == [0, 1, 2, 3]
    # positive, the best at 1: a penalty that multiplies a score lowers even the first candidate
    assert blended.max() == 1.0 and (blended > 0).all()
    assert (ease_blend(np.array([4.0, 1.0, 2.0, 3.0]), few, 0.5) > 0).all()
    ranker.metrics["ease_weight"] = 0.0
    assert np.argsort(-ranker.score(xs)).tolist() != list(range(29, -1, -1))


def test_the_ease_weight_is_judged_on_discovery_candidates_only() -> None:
    # the ranker finds the cart item (touched) but orders the new items worse than EASE does
    x = np.zeros((4, len(FEATURE_NAMES)))
    x[0, _TOUCHED_COL] = 1.0
    x[:, _EASE_COL] = [0.0, 1.0, 3.0, 2.0]
    y = np.array([1.0, 0.0, 1.0, 0.0])
    pred = np.array([9.0, 3.0, 1.0, 2.0])
    three = (np.tile(pred, 3), np.tile(x, (3, 1)), np.tile(y, 3), np.array([4, 4, 4]))
    weight, tried = choose_ease_weight(*three)
    assert weight > 0.0 and tried["0.0"] < tried[str(weight)] == pytest.approx(1.0)
    # one held-out user is no evidence: the ranker alone stays
    assert choose_ease_weight(pred, x, y, np.array([4]))[0] == 0.0


def test_a_noisy_gain_on_few_groups_keeps_the_ranker_alone() -> None:
    # EASE wins group 0 by a lot and loses group 1 by nearly as much; groups 2 and 3 are a tie
    pred, x, y, groups = _groups_with_ease(ease_good=True)
    pred[:5] = -x[:5, _EASE_COL]  # group 0: the ranker puts the positive last, EASE first
    y[5:10] = 0.0
    y[9] = 1.0  # group 1: the positive is the ranker's best and EASE's fourth
    pred[5:10] = [1.0, 1.0, 1.0, 1.0, 5.0]
    x[5:10, _EASE_COL] = [4.0, 3.0, 2.0, 0.0, 1.0]
    weight, tried = choose_ease_weight(pred, x, y, groups)
    assert max(v for w, v in tried.items() if w != "0.0") > tried["0.0"]  # a blend is ahead on average
    assert weight == 0.0  # but not by two standard errors


def _ranking_set(n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    groups = np.full(n_groups, 20)
    x = rng.gamma(1.0, 1.0, size=(int(groups.sum()), len(FEATURE_NAMES)))
    y = (x[:, 0] + x[:, 1] + rng.normal(scale=1.0, size=len(x)) > 2.5).astype(np.float64)
    return x, y, groups


@pytest.mark.parametrize(("n_groups", "boosters"), [(60, 3), (200, 1)])
def test_a_small_training_set_averages_boosters_of_several_seeds(n_groups: int, boosters: int, tmp_path: Path) -> None:
    from dataclasses import replace

    from recsvc.recs.config import RecsConfig
    from recsvc.recs.ranker import train_lambdarank

    cfg = replace(
        RecsConfig(), ranker_seeds=3, ranker_average_below_groups=100, ranker_grid=(), train_threads=1, n_estimators=60
    )
    x, y, groups = _ranking_set(n_groups)
    ranker = train_lambdarank(x, y, groups, cfg)
    assert ranker.booster is not None and ranker.metrics["boosters"] == boosters
    rounds = ranker.metrics["params"]["rounds"]
    assert ranker.booster.num_trees() == boosters * rounds
    if boosters > 1:
        assert {"valid_binary_ndcg@10_one_booster", "valid_binary_ndcg@10_averaged"} <= set(ranker.metrics)
    ranker.save(tmp_path)
    again = Ranker.load(tmp_path, expect_booster=True)
    np.testing.assert_allclose(again.score(x[:20]), ranker.score(x[:20]), rtol=0, atol=1e-12)


def test_purged_groups_stay_out_of_the_held_out_fits_but_not_out_of_the_final_booster() -> None:
    from dataclasses import replace

    from recsvc.recs.config import RecsConfig
    from recsvc.recs.ranker import train_lambdarank

    cfg = replace(RecsConfig(), ranker_seeds=1, ranker_grid=((31, 5),), train_threads=1, n_estimators=80)
    x_held, _, g_held = _ranking_set(60)
    rng = np.random.default_rng(5)
    held_out = (x_held, (rng.random(len(x_held)) < 0.1).astype(np.float64), g_held)  # labels nothing predicts
    x_other = rng.gamma(1.0, 1.0, size=x_held.shape)
    other = (x_other, (x_other[:, 0] + x_other[:, 1] > 2.5).astype(np.float64), g_held)
    # the held-out groups again: a window whose labels overlap the held-out window's
    parts = [held_out, held_out, other]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([p[2] for p in parts])
    valid = np.repeat([True, False, False], 60)
    purged = np.repeat([False, True, False], 60)

    leaky = train_lambdarank(x, y, groups, cfg, valid_groups=valid)
    fair = train_lambdarank(x, y, groups, cfg, valid_groups=valid, purged_groups=purged)
    without = train_lambdarank(
        x[np.repeat(~purged, groups)], y[np.repeat(~purged, groups)], groups[~purged], cfg, valid_groups=valid[~purged]
    )
    assert fair.metrics["purged_groups"] == 60 and fair.metrics["groups"] == 180
    assert fair.metrics["valid_ndcg@10"] == without.metrics["valid_ndcg@10"]
    assert leaky.metrics["valid_ndcg@10"] > fair.metrics["valid_ndcg@10"] + 0.2  # the copies were memorised
