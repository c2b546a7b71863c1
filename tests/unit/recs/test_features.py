"""Ranker features from hand-made logs: popularity rank, recent users, repeat rate, EASE, recency."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsvc.recs.config import RecsConfig
from recsvc.recs.item_item import binary_matrix, ease_weights
from recsvc.recs.item_stats import build_item_stats
from recsvc.recs.profile import build_profile
from recsvc.recs.ranker import FEATURE_NAMES, _days_since_touched, build_features
from recsvc.recs.reasons import explaining_source
from recsvc.recs.sources import SOURCE_INDEX, SOURCES, ease_maps, generate
from recsvc.recs.unixtime import DAY

T_REF = 200 * DAY
CFG = RecsConfig(recent_days=30, ease_neighbors=6, k_popular=2, k_popular_recent=2)
N_ROWS = 6
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _ev(rows: list[tuple[str, int, float]], event_type: str = "view") -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "row": np.array([r[1] for r in rows], dtype=np.int64),
            "w": np.ones(n),
            "event_type": [event_type] * n,
            "t": np.array([r[2] for r in rows], dtype=np.float64),
            "offset": np.zeros(n, dtype=np.int64),
            "city": [""] * n,
        }
    )


def _log() -> pd.DataFrame:
    old, recent = T_REF - 100 * DAY, T_REF - 5 * DAY
    rows = [(f"o{u}", 0, old) for u in range(6)]  # item 0: most users, all long ago
    rows += [(f"r{u}", 1, recent) for u in range(4)]  # item 1: fewer users, all recent
    rows += [("a", 2, old), ("a", 2, old + 3 * DAY), ("b", 2, old)]  # item 2: 1 of 2 users came back
    # items 3 and 4 go together, item 5 with nothing
    rows += [(f"p{u}", i, old) for u in range(5) for i in (3, 4)] + [("q", 5, old)]
    return _ev(rows)


def _features(history_rows: list[int], history_t: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stats = build_item_stats(_log(), N_ROWS, np.zeros(N_ROWS, dtype=np.int64), T_REF, CFG, ease_lambda=1.0)
    rows = np.array(history_rows, dtype=np.int64)
    vecs = np.eye(N_ROWS, 4, dtype=np.float32)
    prof = build_profile(
        rows,
        ["view"] * len(rows),
        np.array(history_t),
        T_REF,
        item_vectors=vecs[rows],
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=CFG,
    )
    cands = generate(prof, stats, config=CFG, embedding_hits=None, city="", hour=0, now=T_REF, banned=rows)
    x = build_features(
        cands,
        prof,
        stats,
        cand_vectors=vecs[cands.rows],
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        city="",
        now=T_REF,
        stage=0,
    )
    return cands.rows, x, stats.pop_rank_pct


def test_popularity_rank_recent_users_and_repeat_rate() -> None:
    stats = build_item_stats(_log(), N_ROWS, np.zeros(N_ROWS, dtype=np.int64), T_REF, CFG)
    order = np.argsort(-stats.pop, kind="stable")
    assert stats.pop_rank_pct[order].tolist() == pytest.approx(np.arange(N_ROWS) / N_ROWS)
    assert stats.recent_users.tolist() == [0, 4, 0, 0, 0, 0]
    assert stats.recent_order.tolist() == [1]
    assert stats.repeat_rate[2] == pytest.approx(0.5) and stats.repeat_rate[0] == 0.0


def test_ease_source_and_features_follow_the_history() -> None:
    rows, x, rank = _features([3], [T_REF - 2 * DAY])
    pos = {int(r): i for i, r in enumerate(rows)}
    assert 4 in pos and 3 not in pos  # touched items are not proposed again
    i4 = pos[4]
    assert x[i4, F["src_ease"]] == 1.0 and x[i4, F["ease_score"]] > 0
    assert x[i4, F["ease_rank_pct"]] == 0.0 and x[i4, F["ease_recent"]] == x[i4, F["ease_score"]]
    others = [i for r, i in pos.items() if r != 4]
    assert all(x[i, F["ease_rank_pct"]] > 0 for i in others)
    assert x[pos[1], F["src_popular_recent"]] == 1.0
    assert x[pos[1], F["recent_users_log"]] == pytest.approx(np.log1p(4))
    # the popularity rank feature is each row's own rank, whatever the order of the candidates
    assert x[:, F["pop_rank_pct"]].tolist() == pytest.approx(rank[rows].tolist())
    assert x[pos[1], F["pop_rank_pct"]] == 0.0  # recent users weigh most in the decayed popularity
    assert np.isnan(x[i4, F["days_since_touched"]])


def test_days_since_touched_for_items_that_come_back() -> None:
    prof = build_profile(
        np.array([2, 3]),
        ["view", "view"],
        np.array([T_REF - 10 * DAY, T_REF - 4 * DAY]),
        T_REF,
        item_vectors=np.eye(2, 4, dtype=np.float32),
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=RecsConfig(rediscover_touched=True),
    )
    got = _days_since_touched(np.array([3, 5, 2]), prof, T_REF)
    assert got[0] == pytest.approx(4.0) and np.isnan(got[1]) and got[2] == pytest.approx(10.0)


def test_a_candidate_no_reason_source_proposed_is_explained_as_popular() -> None:
    flags = np.zeros(len(SOURCES), dtype=bool)
    assert explaining_source(flags) == "popular"
    flags[SOURCE_INDEX["ease"]] = True
    assert explaining_source(flags) == "ease"


def test_dense_ease_scores_the_whole_history_with_every_weight() -> None:
    # history_max=1 keeps one row in the profile's recent list, but EASE sums over every touched item
    cfg = RecsConfig(recent_days=30, ease_neighbors=6, history_max=1)
    log = _log()
    stats = build_item_stats(log, N_ROWS, np.zeros(N_ROWS, dtype=np.int64), T_REF, cfg, ease_lambda=1.0)
    assert stats.has_dense_ease
    hist = np.array([3, 0], dtype=np.int64)
    prof = build_profile(
        hist,
        ["view", "view"],
        np.array([T_REF - DAY, T_REF - 2 * DAY]),
        T_REF,
        item_vectors=np.eye(N_ROWS, 4, dtype=np.float32)[hist],
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=cfg,
    )
    assert prof.rows.tolist() == [3]
    full, recent = ease_maps(prof, stats)
    x = binary_matrix(pd.factorize(log["user_id"])[0], log["row"].to_numpy(), log["user_id"].nunique(), N_ROWS)
    b = ease_weights(x, 1.0)
    assert full[0].tolist() == list(range(N_ROWS))
    assert full[1] == pytest.approx(b[[0, 3]].sum(axis=0), abs=1e-5)
    assert recent[1] == pytest.approx(b[3], abs=1e-5)
    # with the dense matrix off, the neighbour lists of the recent rows stand in
    sparse = build_item_stats(
        log, N_ROWS, np.zeros(N_ROWS, dtype=np.int64), T_REF, replace(cfg, ease_dense_max=0), ease_lambda=1.0
    )
    assert not sparse.has_dense_ease
    rows, scores = ease_maps(prof, sparse)[0]
    assert rows.tolist() == [4] and scores == pytest.approx([b[3, 4]], abs=1e-5)


def test_a_pushed_item_is_not_touched_by_the_user() -> None:
    # the service's sends are not the user's actions: the pushed item stays a discovery candidate
    prof = build_profile(
        np.array([2, 3]),
        ["view", "push_delivered"],
        np.array([T_REF - 3 * DAY, T_REF - DAY]),
        T_REF,
        item_vectors=np.eye(N_ROWS, 4, dtype=np.float32)[[2, 3]],
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=CFG,
    )
    assert prof.touched == frozenset({2}) and prof.rows.tolist() == [2] and prof.n_events == 1
