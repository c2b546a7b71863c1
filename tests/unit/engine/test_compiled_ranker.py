"""A served ranker that averages several boosters is compiled when its model loads (LightGBM would pay
for every member's trees on every request); a single booster, or compiled_ranker off, keeps LightGBM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from artifact_helpers import serving_engine


@pytest.mark.parametrize("compiled", [True, False])
def test_an_averaged_ranker_is_compiled_when_served(
    compiled: bool, trained_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lleaves")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this test owns its compiled object
    eng = serving_engine(trained_models, str(tmp_path / "store.db"), recs={"compiled_ranker": compiled})
    try:
        ranker = eng._models.recs.ranker  # type: ignore[union-attr]
        assert ranker.averaged  # 400 users: far fewer groups than ranker_average_below_groups
        backend = ranker._trees.backend if ranker._trees is not None else "lightgbm"
        assert backend == ("lleaves" if compiled else "lightgbm")
        x = np.random.default_rng(3).gamma(1.0, 1.0, size=(50, ranker.booster.num_feature()))
        want = np.asarray(ranker.booster.predict(x), dtype=np.float64)
        np.testing.assert_allclose(ranker.score_rows(x) - want, 0.0, atol=1e-5)  # only the tie-breaker differs
    finally:
        eng.close()
