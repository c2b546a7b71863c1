from __future__ import annotations

import numpy as np
import pandas as pd

from recsvc.recs.config import RecsConfig
from recsvc.recs.tuning import als_grid, time_split, tune_als, tune_ease_lambda
from recsvc.recs.unixtime import DAY

END = 100 * DAY
CFG = RecsConfig(label_days=10, ease_lambdas=(1.0, 10.0, 100.0), max_train_users=1000)


def _ev(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [r[0] for r in rows], "row": [r[1] for r in rows], "t": [r[2] for r in rows]})


def test_time_split_judges_only_new_items_of_known_users_inside_the_window() -> None:
    before, inside, after = END - 20 * DAY, END - 5 * DAY, END + DAY
    ev = _ev(
        [
            ("a", 0, before),
            ("a", 1, before),
            ("a", 1, inside),  # touched before: not new
            ("a", 2, inside),  # new: judged
            ("a", 3, after),  # after the training end: never seen
            ("b", 2, inside),  # no history before the split: not judged
            ("c", 0, before),
            ("c", 2, before),
        ]
    )
    split = time_split(ev, END, CFG)
    cols = {int(r): j for j, r in enumerate(split.head)}
    assert sorted(cols) == [0, 1, 2]  # items with history before the split
    assert split.relevant == {0: {cols[2]}}
    assert split.x.shape == (2, 3)


def _taste_log(seed: int) -> pd.DataFrame:
    """Two tastes of five items each; every user sees 3 items of theirs before and 1 new in the window."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(80):
        base = 0 if u % 2 else 5
        items = rng.permutation(5) + base
        for k, i in enumerate(items[:4]):
            t = END - 5 * DAY if k == 3 else END - (30 + k) * DAY
            rows.append((f"u{u}", int(i), float(t)))
    return _ev(rows)


def test_ease_lambda_is_chosen_from_the_grid_on_the_split_before_the_end() -> None:
    ev = _taste_log(0)
    lam, tried = tune_ease_lambda(ev, END, CFG)
    assert lam in CFG.ease_lambdas and set(tried) == {"1.0", "10.0", "100.0"}
    assert tried[str(lam)] == max(tried.values()) > 0.3  # tastes are easy: far above chance
    # anything at or after the training end changes nothing
    noise = _ev([(f"u{u}", (u + 3) % 10, END + DAY) for u in range(80)])
    assert tune_ease_lambda(pd.concat([ev, noise], ignore_index=True), END, CFG) == (lam, tried)


def test_without_judged_users_the_middle_of_the_grid_is_used() -> None:
    ev = _ev([("a", 0, END - 30 * DAY), ("a", 1, END - 30 * DAY)])
    assert tune_ease_lambda(ev, END, CFG) == (10.0, {})


def test_als_is_tuned_on_its_grid_on_the_split_before_the_end() -> None:
    cfg = RecsConfig(label_days=10, max_train_users=1000, als_factors=(2, 4), als_iterations=10)
    ev = _taste_log(0)
    params, tried = tune_als(ev, END, cfg)
    assert len(tried) == len(als_grid(cfg)) == 8
    assert params in als_grid(cfg)
    key = f"factors={params.factors},regularization={params.regularization},alpha={params.alpha}"
    assert tried[key] == max(tried.values()) > 0.3  # tastes are easy: far above chance
    noise = _ev([(f"u{u}", (u + 3) % 10, END + DAY) for u in range(80)])
    assert tune_als(pd.concat([ev, noise], ignore_index=True), END, cfg) == (params, tried)
    # nobody judged: the first point, untuned
    lone = _ev([("a", 0, END - 30 * DAY), ("a", 1, END - 30 * DAY)])
    assert tune_als(lone, END, cfg) == (als_grid(cfg)[0], {})
