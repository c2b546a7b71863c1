from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import l2_normalize
from recsvc.recs.index import ItemIndex


def _vecs(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # clustered, like real embeddings: 20 centres plus noise
    centres = rng.normal(size=(20, dim))
    return l2_normalize(centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim)))


def test_exact_index_matches_numpy() -> None:
    v = _vecs(300)
    idx = ItemIndex.build([f"i{i}" for i in range(300)], v)
    assert idx.kind == "flat" and idx.info["recall_at_10"] == 1.0
    ids, scores = idx.search(v[:2], 5)
    truth = np.argsort(-(v[:2] @ v.T), axis=1)[:, :5]
    assert ids == [[f"i{j}" for j in row] for row in truth]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_hnsw_reaches_target_recall() -> None:
    v = _vecs(5000, seed=1)
    cfg = RecsConfig(exact_index_max=1000, hnsw_m=16, hnsw_ef_construction=40, ef_search_min=8)
    idx = ItemIndex.build([str(i) for i in range(5000)], v, config=cfg)
    assert idx.kind == "hnsw"
    assert idx.info["recall_at_10"] >= cfg.target_recall
    held_out = idx._sample_queries(100, seed=99)  # same kind of query, other draws
    assert idx.recall_at(held_out, 10) >= cfg.target_recall - 0.05
    exact = ItemIndex.build([str(i) for i in range(5000)], v, config=cfg, kind="flat")
    assert exact.recall_at(held_out, 10) == 1.0


def test_new_item_retrievable_at_once_and_replace() -> None:
    for kind in ("flat", "hnsw"):
        v = _vecs(2000, seed=2)
        idx = ItemIndex.build([str(i) for i in range(2000)], v, kind=kind)
        new = l2_normalize(np.ones((1, 32)))
        idx.add(["new"], new)
        ids, _ = idx.search(new, 1)
        assert ids == [["new"]]
        # replacing "0" with the same vector as "new": both come back, the old vector is gone
        idx.add(["0"], new)
        ids, _ = idx.search(new, 2)
        assert set(ids[0]) == {"new", "0"}
        ids, _ = idx.search(v[0], 3)
        assert "0" not in ids[0]
        assert len(idx) == 2001


def test_errors_and_edge_cases(tmp_path: Path) -> None:
    idx = ItemIndex(8)
    with pytest.raises(FailedPrecondition):
        idx.search(np.ones(8), 3)
    v = _vecs(5, dim=8)
    idx.add(list("abcde"), v)
    with pytest.raises(InvalidArgument, match="8 columns"):
        idx.search(np.ones(7), 3)
    ids, scores = idx.search(v[0], 50)
    assert sorted(ids[0]) == list("abcde") and scores.shape == (1, 5)
    with pytest.raises(InvalidArgument, match="duplicate"):
        idx.add(["x", "x"], _vecs(2, dim=8))
    with pytest.raises(InvalidArgument):
        idx.add(["y"], np.full((1, 8), np.nan))
    assert idx.remove(["a", "zz"]) == 1 and "a" not in idx
    idx.save(tmp_path)
    back = ItemIndex.load(tmp_path, dim=8)
    assert back.search(v[1], 1)[0] == [["b"]] and len(back) == 4
    with pytest.raises(FailedPrecondition, match="dimension"):
        ItemIndex.load(tmp_path, dim=16)
    (tmp_path / "index_ids.json").unlink()
    with pytest.raises(FailedPrecondition, match=r"index_ids\.json"):
        ItemIndex.load(tmp_path)


@pytest.mark.parametrize(("n", "kind"), [(300, "flat"), (5000, "flat"), (3000, "hnsw")])
def test_many_queries_get_each_querys_own_answer(n: int, kind: str) -> None:
    """``search_labels_many`` equals ``search_labels`` of each query alone, bit for bit, for each
    query's own ``k`` (exact search, faiss's flat index, HNSW with a replaced item)."""
    v = _vecs(n, seed=4)
    idx = ItemIndex.build([str(i) for i in range(n)], v, config=RecsConfig(hnsw_ef_construction=40), kind=kind)
    if kind == "hnsw":
        idx.add(["7"], _vecs(1, seed=5))  # a tombstone: searches over-fetch past it
    queries = list(_vecs(40, seed=6).astype(np.float32))
    ks = [5 + (i % 4) * 20 for i in range(40)]
    many = idx.search_labels_many(queries, ks)
    for q, k, (labels, scores) in zip(queries, ks, many, strict=True):
        one_labels, one_scores = idx.search_labels(q, k)
        np.testing.assert_array_equal(labels, one_labels[0])
        np.testing.assert_array_equal(scores, one_scores[0])
