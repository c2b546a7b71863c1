"""The ranker's compiled trees (batch runs) score as LightGBM does, and fall back to it when they cannot compile."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsvc.recs.ranker import FEATURE_NAMES, Ranker


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
