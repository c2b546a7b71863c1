"""The block form of ranking (:meth:`RecsModel.recommend_many`) gives each request's ``recommend``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.recs.block import rank_block
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.ranker import FEATURE_NAMES, ease_rank_share, lookup
from recsvc.recs.serving import RecRequest, RecsModel
from tests.unit.recs.conftest import CUTOFF


@pytest.fixture()
def model(model_dir: Path, encoder: SentenceTransformerEncoder) -> RecsModel:
    return RecsModel.load(model_dir, encoder)


def _requests(log: pd.DataFrame) -> list[RecRequest]:
    """Users with long, short and no history, in and out of cities, each trigger and policy, with
    exclusions, recent pushes, an item in the cart, and one query among them."""
    now = CUTOFF.to_pydatetime()
    past = log[log["ts"] < CUTOFF]
    users = [*(f"u{i}" for i in range(12)), "new"]
    cities = ["", "Beijing", "Shanghai"]
    out = []
    for i, u in enumerate(users):
        hist = past[past["user_id"] == u]
        if i == 3:
            hist = hist.iloc[-2:]
        out.append(
            RecRequest(
                user_id=u,
                history=hist,
                now=now,
                city=cities[i % 3],
                stage=i % 4,
                trigger="cart_idle" if i % 4 == 1 else "scheduled",
                k=8 + i % 5,
                exclude_item_ids=frozenset({"coffee-1"}) if i % 5 == 0 else frozenset(),
                recently_pushed=frozenset({"running-2", "books-3"}) if i % 3 == 0 else frozenset(),
                policy="popular" if i == 7 else "model",
            )
        )
    carted = [
        ("baby-1", "view", CUTOFF - pd.Timedelta(days=2)),
        ("baby-1", "add_to_cart", CUTOFF - pd.Timedelta(hours=3)),
    ]
    out.append(RecRequest(user_id="carting", history=carted, now=now, trigger="cart_idle", k=6))
    out.append(
        RecRequest(user_id="u1", history=past[past["user_id"] == "u1"], now=now, query_text="running shoes", k=5)
    )
    return out


@pytest.mark.parametrize("ease_weight", [0.0, 0.5])
def test_a_block_equals_each_request_alone(model: RecsModel, log: pd.DataFrame, ease_weight: float) -> None:
    model.ranker.metrics["ease_weight"] = ease_weight  # the blend orders within each user's candidates
    reqs = _requests(log)
    builds = [3 if i % 2 else None for i in range(len(reqs))]
    alone = [model.recommend(r, build=b) for r, b in zip(reqs, builds, strict=True)]
    assert model.recommend_many(reqs, builds) == alone  # items, order, scores (exactly), reasons
    assert all(alone)
    assert alone[-2][0].item_id == "baby-1"  # the idle cart's item first


def test_block_features_equal_one_users_features(model: RecsModel, log: pd.DataFrame) -> None:
    reqs = [r for r in _requests(log) if not r.query_text]
    pipe = model._pipeline
    works = rank_block(pipe, model.ranker, reqs, model._inputs)
    als_cols = [FEATURE_NAMES.index(n) for n in ("src_als", "als_score", "als_rank_pct")]
    with_als = 0
    for req, (work, scores) in zip(reqs, works, strict=True):
        assert work is not None
        one = model._work(req, "", None)
        assert one is not None
        np.testing.assert_array_equal(work.x, one.x)  # every column, NaN where one user's is NaN
        np.testing.assert_array_equal(work.cands.als_map[1], one.cands.als_map[1])
        src, score, rank = (work.x[:, c] for c in als_cols)
        if src.any():
            with_als += 1
            assert np.isfinite(score).any() and (rank < 1.0).any()
        if req.policy == "model":
            np.testing.assert_array_equal(scores, model.ranker.score(one.x))
    # ALS proposes for every user with a history: the block's ALS columns are checked, not empty
    assert with_als >= len(reqs) - 1


def test_ease_rank_share_equals_ranking_every_scored_row() -> None:
    """Ranking only the asked rows gives the ranks a stable sort of all scored rows gives, ties
    (many, or a few) included."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(0, 300))
        e_rows = np.sort(rng.choice(1000, n, replace=False)).astype(np.int64)
        e_scores = (rng.integers(0, [2, 50, 10**6][trial % 3], n) / 7).astype(np.float32)
        if trial % 5 == 0:
            e_scores[: n // 3] = 0.0
        rows = np.unique(np.concatenate([rng.choice(1000, 150), e_rows[: n // 2]])).astype(np.int64)
        rank = np.empty(n, dtype=np.float32)
        rank[np.argsort(-e_scores, kind="stable")] = np.arange(n, dtype=np.float32)
        expected = lookup(e_rows, rank / max(n, 1), rows, default=1.0)
        np.testing.assert_array_equal(ease_rank_share(e_rows, e_scores, rows), expected)
