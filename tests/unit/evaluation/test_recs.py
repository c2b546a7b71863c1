from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

from recsvc.evaluation.recs import popularity_recs, protocol, score_lists


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    from recsvc.data.io import normalize_events

    return normalize_events(
        pd.DataFrame([{"user_id": u, "item_id": i, "ts": t, "event_type": "view"} for u, i, t in rows])
    )


def test_protocol_keeps_only_new_items_of_known_users() -> None:
    ev = _events(
        [
            ("a", "x", "2026-01-01"),
            ("a", "x", "2026-02-02"),
            ("a", "y", "2026-02-03"),
            ("b", "y", "2026-01-05"),
            ("b", "y", "2026-02-01"),
            ("c", "z", "2026-02-02"),
            ("a", "w", "2026-05-01"),
        ]
    )
    touched, relevant = protocol(ev, pd.Timestamp("2026-02-01", tz="UTC"), 30)
    assert relevant == {"a": {"y"}}  # b only re-touched, c unseen before, w after the horizon
    assert touched == {"a": {"x"}}
    recs = popularity_recs(ev, pd.Timestamp("2026-02-01", tz="UTC"), touched)
    assert recs["a"] == ["y"]


def test_score_lists_recall_and_ndcg() -> None:
    rel = {"u": {"a", "b"}, "v": {f"i{j}" for j in range(20)}}
    recs = {"u": ["a", "x", "b"], "v": [f"i{j}" for j in range(5)] + ["n"] * 5}
    m = score_lists(recs, rel)
    ndcg_u = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg_v = sum(1 / math.log2(r + 2) for r in range(5)) / sum(1 / math.log2(r + 2) for r in range(10))
    assert m["recall@10"] == pytest.approx((1.0 + 0.5) / 2, abs=1e-4)
    assert m["ndcg@10"] == pytest.approx((ndcg_u + ndcg_v) / 2, abs=1e-4)


def _data_dir() -> Path:
    root = Path(__file__).resolve().parents[3]
    return Path(os.environ.get("RECSVC_DATA_DIR", root.parent / "shared" / "data"))


@pytest.mark.slow
def test_movielens_beats_popularity_and_als() -> None:
    folder = _data_dir() / "ml-100k"
    if not (folder / "ml-100k.inter").exists():
        pytest.skip(f"MovieLens 100K not found at {folder} (set RECSVC_DATA_DIR)")
    from recsvc.data.convert import load_dataset
    from recsvc.evaluation.recs import evaluate_recs
    from recsvc.recs.embeddings import SentenceTransformerEncoder

    ds = load_dataset(folder)
    res = evaluate_recs(ds, "1998-03-01", 60, encoder=SentenceTransformerEncoder(), progress=False)
    assert res["n_users"] > 50
    for base in ("popularity", "als"):
        assert res["recall@10"] > res["baselines"][base]["recall@10"], (base, res)
        assert res["ndcg@10"] > res["baselines"][base]["ndcg@10"], (base, res)
