"""Implicit ALS inside recsvc: the user step, the source, the model files and the format refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsvc.artifacts import read_metadata, verify
from recsvc.errors import FailedPrecondition, Status
from recsvc.recs.als import AlsParams, als_items, confidence, fit_als, fit_items, user_factor, user_scores
from recsvc.recs.artifact import MODEL_FORMAT
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.item_stats import ItemStats, build_item_stats
from recsvc.recs.profile import build_profile
from recsvc.recs.ranker import FEATURE_NAMES, build_features
from recsvc.recs.serving import RecRequest, RecsModel
from recsvc.recs.sources import SOURCE_INDEX, generate
from recsvc.recs.unixtime import DAY
from tests.unit.recs.conftest import CUTOFF

T_REF = 300 * DAY
N_ROWS = 40
PARAMS = AlsParams(factors=8, regularization=0.1, alpha=10.0, iterations=60)
# two factors for the two tastes: the served model's items follow the taste, not single items
STATS_PARAMS = AlsParams(factors=2, regularization=1.0, alpha=10.0, iterations=30)
CFG = RecsConfig(k_als=5, k_popular=0, k_popular_recent=0, k_ease=0, k_cooc=0, k_hour=0, k_segment=0)


def _counts(seed: int = 0, n_users: int = 120) -> sp.csr_matrix:
    """Two tastes over 40 items; a user touches 3 to 9 items of theirs, some several times."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for u in range(n_users):
        base = 0 if u % 2 else 20
        items = rng.choice(20, int(rng.integers(3, 10)), replace=False) + base
        for i in items:
            rows.append(u)
            cols.append(int(i))
            vals.append(float(rng.integers(1, 4)))
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(n_users, N_ROWS))


def test_the_user_step_gives_the_factor_implicit_learned() -> None:
    counts = _counts()
    model = fit_als(confidence(counts, PARAMS.alpha), PARAMS, seed=0)
    als = als_items(np.arange(N_ROWS), np.asarray(model.item_factors), PARAMS)
    learned = np.asarray(model.user_factors, dtype=np.float64)
    for u in range(0, counts.shape[0], 7):
        row = counts[u]
        x = user_factor(als.factors, als.yty, als.regularization, als.alpha, row.indices, row.data)
        # implicit's last user sweep ran against the item factors one half-sweep older, with a few
        # conjugate-gradient steps: after 60 sweeps the two agree to well under a percent
        assert np.linalg.norm(x - learned[u]) <= 1e-2 * np.linalg.norm(learned[u]), u
        np.testing.assert_allclose(
            als.factors.astype(np.float64) @ x, als.factors.astype(np.float64) @ learned[u], rtol=0, atol=2e-2
        )


def test_the_user_step_is_the_normal_equations_solution() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal((12, 4)).astype(np.float32)
    params = AlsParams(4, 0.5, 3.0, 1)
    als = als_items(np.arange(12), y, params)
    cols, n = np.array([1, 4, 7]), np.array([1.0, 2.0, 5.0])
    x = user_factor(als.factors, als.yty, 0.5, 3.0, cols, n)
    c = np.zeros(12)
    c[cols] = 3.0 * n
    p = np.zeros(12)
    p[cols] = 1.0
    y64 = y.astype(np.float64)
    expected = np.linalg.solve(y64.T @ np.diag(1.0 + c) @ y64 + 0.5 * np.eye(4), y64.T @ np.diag(1.0 + c) @ p)
    np.testing.assert_allclose(x, expected, rtol=1e-9, atol=1e-9)
    rows, scores = user_scores(als, np.array([4, 1, 7, 30]), np.array([2.0, 1.0, 5.0, 1.0]))  # 30: no factor
    np.testing.assert_array_equal(rows, np.arange(12))
    np.testing.assert_allclose(scores, y @ expected.astype(np.float32), rtol=1e-5)


def _log() -> pd.DataFrame:
    counts = _counts().tocoo()
    n = len(counts.data)
    rep = counts.data.astype(np.int64)
    return pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in counts.row], rep),
            "row": np.repeat(counts.col.astype(np.int64), rep),
            "w": np.ones(int(rep.sum())),
            "event_type": ["view"] * int(rep.sum()),
            "t": np.repeat(T_REF - DAY * (1 + np.arange(n) % 50), rep).astype(np.float64),
            "offset": np.zeros(int(rep.sum()), dtype=np.int64),
            "city": [""] * int(rep.sum()),
        }
    )


def _stats(cfg: RecsConfig = CFG) -> ItemStats:
    cats = np.zeros(N_ROWS, dtype=np.int64)
    return build_item_stats(_log(), N_ROWS, cats, T_REF, cfg, als=STATS_PARAMS)


def test_the_als_source_proposes_unseen_items_of_the_users_taste() -> None:
    stats = _stats()
    assert stats.als_factors.shape == (N_ROWS, STATS_PARAMS.factors) and len(stats.als_head) == N_ROWS
    hist = np.array([0, 2, 4, 0], dtype=np.int64)  # taste of rows 0-19, row 0 twice
    vecs = np.eye(N_ROWS, 4, dtype=np.float32)
    prof = build_profile(
        hist,
        ["view", "view", "view", "push_delivered"],  # a push is not a touch and counts nothing
        np.array([T_REF - 3 * DAY, T_REF - 2 * DAY, T_REF - DAY, T_REF - DAY]),
        T_REF,
        item_vectors=vecs[hist],
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=CFG,
    )
    np.testing.assert_array_equal(prof.touched_counts, [1.0, 1.0, 1.0])
    banned = prof.touched_rows
    cands = generate(prof, stats, config=CFG, embedding_hits=None, city="", hour=0, now=T_REF, banned=banned)
    from_als = cands.rows[cands.flags[:, SOURCE_INDEX["als"]]]
    assert len(from_als) == CFG.k_als
    assert not set(from_als.tolist()) & {0, 2, 4}  # seen items never come back through ALS
    assert all(r < 20 for r in from_als.tolist())  # the user's taste
    # the source's rows are the best unseen rows by the ALS score
    rows, scores = cands.als_map
    unseen = ~np.isin(rows, banned)
    best = rows[unseen][np.argsort(-scores[unseen], kind="stable")[: CFG.k_als]]
    assert set(best.tolist()) == set(from_als.tolist())
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
    f = {n: i for i, n in enumerate(FEATURE_NAMES)}
    assert (x[:, f["src_als"]] == cands.flags[:, SOURCE_INDEX["als"]]).all()
    np.testing.assert_array_equal(x[:, f["als_score"]], scores[np.searchsorted(rows, cands.rows)])
    top = cands.rows[np.argmin(x[:, f["als_rank_pct"]])]
    assert scores[rows == top][0] == scores.max() or top in best


def test_a_user_without_a_fitted_item_gets_no_als_scores() -> None:
    stats = _stats()
    prof = build_profile(
        np.zeros(0, dtype=np.int64),
        [],
        np.zeros(0),
        T_REF,
        item_vectors=np.zeros((0, 4), np.float32),
        cat_codes=np.zeros(N_ROWS, dtype=np.int64),
        prices=np.ones(N_ROWS),
        config=CFG,
    )
    empty = np.zeros(0, dtype=np.int64)
    cands = generate(prof, stats, config=CFG, embedding_hits=None, city="", hour=0, now=T_REF, banned=empty)
    assert not cands.flags[:, SOURCE_INDEX["als"]].any() and len(cands.als_map[0]) == 0


def test_fit_items_keeps_the_items_with_the_most_users() -> None:
    log = _log()
    codes = pd.factorize(log["user_id"])[0]
    als = fit_items(codes, log["row"].to_numpy(), PARAMS, max_items=10)
    users = log[["user_id", "row"]].drop_duplicates().groupby("row").size()
    expected = np.sort(users.sort_values(ascending=False, kind="stable").index.to_numpy()[:10])
    np.testing.assert_array_equal(als.head, expected)
    assert als.factors.shape == (10, PARAMS.factors) and als.yty.shape == (PARAMS.factors, PARAMS.factors)
    assert not fit_items(codes, log["row"].to_numpy(), PARAMS, max_items=0).fitted


def test_als_arrays_round_trip_through_npy_files(tmp_path: Path) -> None:
    stats = _stats()
    stats.save(tmp_path)
    for name in ("als_head", "als_factors", "als_yty", "als_params"):
        assert (tmp_path / f"stats_{name}.npy").exists(), name
    back = ItemStats.load(tmp_path, T_REF)
    for name in ("als_head", "als_factors", "als_yty", "als_params"):
        np.testing.assert_array_equal(getattr(back, name), getattr(stats, name))
    assert back.als.regularization == STATS_PARAMS.regularization and back.als.alpha == STATS_PARAMS.alpha


def test_the_trained_model_keeps_als_files_with_checksums(model_dir: Path, tmp_path: Path) -> None:
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["format"] == MODEL_FORMAT == 3
    for name in ("als_head", "als_factors", "als_yty", "als_params"):
        assert f"stats_{name}.npy" in meta["files"], name
    als = meta["ranker"]["als"]
    assert als["factors"] in (16, 64) and als["regularization"] in (0.1, 1.0) and als["alpha"] in (1.0, 10.0)
    assert len(als["validation_ndcg@10"]) == 8
    damaged = tmp_path / "damaged"
    shutil.copytree(model_dir, damaged)
    f = np.load(damaged / "stats_als_factors.npy")
    np.save(damaged / "stats_als_factors.npy", f + 1.0)
    with pytest.raises(FailedPrecondition, match=r"stats_als_factors\.npy"):
        verify(damaged, read_metadata(damaged, "recs"))


def test_a_format_2_model_is_refused_with_retrain(
    model_dir: Path, tmp_path: Path, encoder: SentenceTransformerEncoder
) -> None:
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    meta = json.loads((old / "metadata.json").read_text())
    meta["format"] = 2
    meta["feature_names"] = [n for n in FEATURE_NAMES if n not in ("src_als", "als_score", "als_rank_pct")]
    (old / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(FailedPrecondition, match="retrain") as err:
        RecsModel.load(old, encoder)
    assert err.value.status == Status.FAILED_PRECONDITION


def test_served_candidates_carry_als_features(
    model_dir: Path, encoder: SentenceTransformerEncoder, log: pd.DataFrame
) -> None:
    model = RecsModel.load(model_dir, encoder)
    assert model._pipeline.stats.als.fitted
    hist = log[(log["user_id"] == "u0") & (log["ts"] < CUTOFF)]
    req = RecRequest(user_id="u0", history=hist, now=CUTOFF.to_pydatetime(), k=10)
    work = model._work(req, "", None)
    assert work is not None
    f = {n: i for i, n in enumerate(FEATURE_NAMES)}
    assert work.x[:, f["src_als"]].sum() > 0
    assert np.isfinite(work.x[:, f["als_score"]]).all()
    assert (work.x[:, f["als_rank_pct"]] < 1.0).all()
    seen = set(model._pipeline.items.rows_of(frozenset(hist["item_id"].astype(str))).tolist())
    assert not seen & set(work.cands.rows[work.cands.flags[:, SOURCE_INDEX["als"]]].tolist())
