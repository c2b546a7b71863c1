"""Boosters that differ only in their seed, averaged into one model file."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from recsvc.recs.booster_average import average_boosters


def _boosters(n: int) -> tuple[list[lgb.Booster], np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 5))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the trees' default branches
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=1500) > 0).astype(int) + (np.nan_to_num(x[:, 1]) > 1)
    params = {"objective": "lambdarank", "num_leaves": 7, "bagging_fraction": 0.7, "bagging_freq": 1, "verbose": -1}
    boosters = [
        lgb.train({**params, "seed": s}, lgb.Dataset(x, y, group=np.full(50, 30)), num_boost_round=10 + 3 * s)
        for s in range(n)
    ]
    return boosters, x


def test_the_average_scores_the_mean_of_its_members_and_survives_a_save(tmp_path: Path) -> None:
    boosters, x = _boosters(3)
    members = [b.predict(x) for b in boosters]
    assert not np.allclose(members[0], members[1])  # the seeds did draw different trees
    merged = average_boosters(boosters)
    assert merged.num_trees() == sum(b.num_trees() for b in boosters)
    np.testing.assert_allclose(merged.predict(x), np.mean(members, axis=0), rtol=0, atol=1e-12)
    merged.save_model(str(tmp_path / "ranker.txt"))
    loaded = lgb.Booster(model_file=str(tmp_path / "ranker.txt"))
    np.testing.assert_allclose(loaded.predict(x), np.mean(members, axis=0), rtol=0, atol=1e-12)


def test_one_booster_is_its_own_average_and_none_is_refused() -> None:
    boosters, _ = _boosters(1)
    assert average_boosters(boosters) is boosters[0]
    with pytest.raises(ValueError, match="no booster"):
        average_boosters([])
