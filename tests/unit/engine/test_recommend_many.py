"""``recommend_many`` (a batch chunk ranked together) answers each user as ``recommend`` does alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from artifact_helpers import good_version, serving_engine

from recsvc.engine.engine import Engine
from recsvc.engine.types import RecommendQuery, RecommendResult

NOW = datetime.now(UTC).replace(microsecond=0)


def _event(user: str, n: int, etype: str, item: str, hours_ago: float, payload: object = None) -> dict[str, object]:
    return {
        "event_id": f"{user}-{n}",
        "user_id": user,
        "ts": (NOW - timedelta(hours=hours_ago)).timestamp(),
        "event_type": etype,
        "item_id": item,
        "payload": json.dumps(payload) if payload is not None else None,
    }


def _histories(items: pd.DataFrame) -> list[dict[str, object]]:
    """Seeded histories of varied length (views, carts, purchases), a user with an item still in the
    cart, and one who said an item was not relevant (its category is rejected)."""
    rng = np.random.default_rng(3)
    ids = items["item_id"].astype(str).tolist()
    types = ["view", "view", "view", "add_to_cart", "purchase", "push_clicked"]
    out = []
    for u in range(12):
        for n in range(int(rng.integers(1, 40))):
            out.append(_event(f"h{u}", n, str(rng.choice(types)), str(rng.choice(ids)), float(rng.uniform(1, 900))))
    out += [_event("carting", 0, "view", ids[3], 30), _event("carting", 1, "add_to_cart", ids[3], 2)]
    out += [_event("rejecting", n, "view", ids[n], 100 - n) for n in range(5, 12)]
    out.append(_event("rejecting", 99, "feedback", ids[5], 1, {"rating": 1, "reasons": ["not_relevant"]}))
    return out


@pytest.fixture(scope="module")
def engines(trained_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one store with users of every kind: one answers one by one, the other (which
    builds only the shown candidates, as a batch does) ranks all of them together."""
    store = str(tmp_path_factory.mktemp("recommend-many") / "recsvc.db")
    alone = serving_engine(trained_models, store)
    together = serving_engine(trained_models, store)
    together.rank_shown_only = True
    # events after both loaded their models: both score each user when asked, at the request's time
    items = pd.read_parquet(good_version(trained_models, "recs") / "items.parquet")
    alone.store.upsert_items(items)
    alone.store.add_events(_histories(items))
    yield alone, together
    alone.close()
    together.close()


def _same(a: RecommendResult, b: RecommendResult) -> None:
    assert a.candidates == b.candidates  # items, order, scores, reasons, channels, slots, keys
    assert (a.suppression, a.lifecycle, a.tier, a.new_user) == (b.suppression, b.lifecycle, b.tier, b.new_user)


@pytest.mark.parametrize("trigger", ["scheduled", "cart_idle"])
def test_a_chunk_ranked_together_equals_each_user_alone(engines: tuple[Engine, Engine], trigger: str) -> None:
    alone, together = engines
    users = [*(f"h{u}" for u in range(12)), "nobody", "carting", "rejecting"]
    queries = [RecommendQuery(user_id=u, now=NOW, trigger=trigger, max_candidates=3, write_copy=False) for u in users]
    expected = [alone.recommend(q) for q in queries]
    got = together.recommend_many(queries)
    assert [r.user_id for r in got if r is not None] == users
    for a, b in zip(expected, got, strict=True):
        assert b is not None
        _same(a, b)
    assert all(r.candidates for r in expected)
    by_user = dict(zip(users, expected, strict=True))
    assert by_user["nobody"].new_user
    if trigger == "cart_idle":
        assert by_user["carting"].candidates[0].source == "cart"


def test_the_chunk_covers_als_candidates_and_features(engines: tuple[Engine, Engine]) -> None:
    """The equality above covers ALS: the served model has item factors, and the users' candidates
    include ALS's with finite ALS scores (the block and the one-by-one features are compared whole)."""
    from recsvc.recs.ranker import FEATURE_NAMES
    from recsvc.recs.serving import RecRequest

    alone, _ = engines
    recs = alone.models.recs
    assert recs._pipeline.stats.als.fitted
    items = recs._pipeline.items
    hist = [(items.ids[r], "view", NOW - timedelta(days=d + 1)) for d, r in enumerate(range(0, 30, 3))]
    work = recs._work(RecRequest(user_id="als", history=hist, now=NOW), "", None)
    assert work is not None
    src = work.x[:, FEATURE_NAMES.index("src_als")] > 0
    assert src.any() and np.isfinite(work.x[src, FEATURE_NAMES.index("als_score")]).all()


def test_users_left_out_get_no_answer(engines: tuple[Engine, Engine]) -> None:
    alone, together = engines
    alone.store.upsert_users(pd.DataFrame([{"user_id": u, "city": "Berlin"} for u in ("h1", "h2")]))
    queries = [RecommendQuery(user_id=u, now=NOW, max_candidates=3, write_copy=False) for u in ("h1", "h3", "h2")]
    got = together.recommend_many(queries, keep=lambda user, lifecycle, tier: user.get("city") == "Berlin")
    assert got[1] is None
    for q, r in zip(queries[::2], got[::2], strict=True):
        assert r is not None
        _same(alone.recommend(q), r)
