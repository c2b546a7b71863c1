"""Offline evaluation of product recommendations (DATA.md protocol) against simple baselines.

Judged users: an event before the cut-off and, in the horizon, an event on an item they never
touched before it; relevant = those new items; touched items are never recommended. Every model
(ours, popularity, ALS) is trained only on events before the cut-off; knobs are tuned on a
validation split carved from before the cut-off (same protocol, one horizon earlier).
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsvc.data.convert import Dataset
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder
from recsvc.recs.model import RecRequest, RecsModel, train_recs

logger = logging.getLogger(__name__)

K = 10
# sends by the service itself are not something the user did with the item
_NOT_USER_ACTIONS = ("push_delivered",)
ALS_GRID: dict[str, tuple[Any, ...]] = {
    "factors": (16, 64, 128),
    "regularization": (0.01, 0.1, 1.0),
    "alpha": (1.0, 10.0, 40.0),
    "iterations": (15,),
}


def _item_events(events: pd.DataFrame) -> pd.DataFrame:
    ev = events[events["item_id"].notna() & ~events["event_type"].isin(_NOT_USER_ACTIONS)]
    return ev.assign(item_id=ev["item_id"].astype(str), user_id=ev["user_id"].astype(str))


def protocol(
    events: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(touched items per judged user before the cut-off, relevant new items in the horizon)."""
    ev = _item_events(events)
    end = cutoff + pd.Timedelta(days=horizon_days)
    before = ev[ev["ts"] < cutoff]
    after = ev[(ev["ts"] >= cutoff) & (ev["ts"] < end)]
    all_before_users = set(events.loc[events["ts"] < cutoff, "user_id"].astype(str))
    touched = {u: set(g) for u, g in before.groupby("user_id")["item_id"]}
    relevant: dict[str, set[str]] = {}
    for u, g in after.groupby("user_id")["item_id"]:
        if u not in all_before_users:
            continue
        new = set(g) - touched.get(u, set())
        if new:
            relevant[u] = new
    return {u: touched.get(u, set()) for u in relevant}, relevant


def score_lists(recs: dict[str, list[str]], relevant: dict[str, set[str]]) -> dict[str, float]:
    """Recall@10 (hits / min(|relevant|, 10)) and NDCG@10 averaged over judged users."""
    if not relevant:
        return {"recall@10": float("nan"), "ndcg@10": float("nan")}
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    rec_sum = ndcg_sum = 0.0
    for u, rel in relevant.items():
        got = recs.get(u, [])[:K]
        gains = np.array([1.0 if i in rel else 0.0 for i in got])
        n_rel = min(len(rel), K)
        rec_sum += gains.sum() / n_rel
        ideal = discounts[:n_rel].sum()
        ndcg_sum += float((gains * discounts[: len(gains)]).sum() / ideal)
    n = len(relevant)
    return {"recall@10": round(rec_sum / n, 4), "ndcg@10": round(ndcg_sum / n, 4)}


def popularity_recs(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    touched: dict[str, set[str]],
    *,
    window_days: int | None = None,
) -> dict[str, list[str]]:
    """Most-interacted items before the cut-off (optionally only the last ``window_days``)."""
    ev = _item_events(events)
    ev = ev[ev["ts"] < cutoff]
    if window_days is not None:
        ev = ev[ev["ts"] >= cutoff - pd.Timedelta(days=window_days)]
    ranked = (
        ev.groupby("item_id")["user_id"].nunique().sort_values(ascending=False, kind="stable").index.tolist()
    )
    out: dict[str, list[str]] = {}
    for u, seen in touched.items():
        out[u] = [i for i in itertools.islice((i for i in ranked if i not in seen), K)]
    return out


def als_recs(
    events: pd.DataFrame, cutoff: pd.Timestamp, users: list[str], params: dict[str, Any], seed: int = 0
) -> dict[str, list[str]]:
    """Top-10 of implicit's ALS fit on the user x item counts before the cut-off, seen items filtered."""
    from implicit.als import AlternatingLeastSquares

    ev = _item_events(events)
    ev = ev[ev["ts"] < cutoff]
    uid, ucodes = pd.factorize(ev["user_id"])
    iid, icodes = pd.factorize(ev["item_id"])
    counts = sp.csr_matrix((np.ones(len(ev), dtype=np.float32), (uid, iid)), shape=(len(ucodes), len(icodes)))
    counts.sum_duplicates()
    conf = (counts * float(params["alpha"])).tocsr()
    conf.data = 1.0 + conf.data if params.get("plus_one", True) else conf.data
    model = AlternatingLeastSquares(
        factors=int(params["factors"]),
        regularization=float(params["regularization"]),
        iterations=int(params["iterations"]),
        random_state=seed,
        num_threads=2,
        use_gpu=False,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's own advice: its threads, not OpenBLAS's, do the work
        model.fit(conf, show_progress=False)
    row_of = {u: i for i, u in enumerate(ucodes)}
    known = [u for u in users if u in row_of]
    out: dict[str, list[str]] = {u: [] for u in users}
    if not known:
        return out
    rows = np.array([row_of[u] for u in known])
    ids, _ = model.recommend(rows, conf[rows], N=K, filter_already_liked_items=True)
    for u, r in zip(known, ids, strict=True):
        out[u] = [str(icodes[i]) for i in r if i >= 0]
    return out


def tune_als(
    events: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, *, progress: bool = False, seed: int = 0
) -> tuple[dict[str, Any], dict[str, float]]:
    """Grid-search ALS on the validation split that ends at the cut-off (no test data seen)."""
    val_cut = cutoff - pd.Timedelta(days=horizon_days)
    _touched, relevant = protocol(events[events["ts"] < cutoff], val_cut, horizon_days)
    grid = [dict(zip(ALS_GRID, combo, strict=True)) for combo in itertools.product(*ALS_GRID.values())]
    best: tuple[float, dict[str, Any], dict[str, float]] = (-1.0, grid[0], {})
    it: Any = grid
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(grid, desc="ALS grid", unit="fit")
    for params in it:
        m = score_lists(als_recs(events, val_cut, list(relevant), params, seed), relevant)
        if m["ndcg@10"] > best[0]:
            best = (m["ndcg@10"], params, m)
    return best[1], best[2]


def _model_recs(
    model: RecsModel, events: pd.DataFrame, cutoff: pd.Timestamp, touched: dict[str, set[str]], progress: bool
) -> dict[str, list[str]]:
    ev = events[events["ts"] < cutoff]
    ev = ev[ev["user_id"].astype(str).isin(touched.keys())]
    groups = {u: g for u, g in ev.groupby(ev["user_id"].astype(str), sort=False)}
    out: dict[str, list[str]] = {}
    it: Any = touched.items()
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(list(it), desc="recommend", unit="user")
    now = cutoff.to_pydatetime()
    for u, seen in it:
        g = groups.get(u)
        hist = (
            list(zip(g["item_id"].tolist(), g["event_type"].tolist(), g["ts"].tolist(), strict=True))
            if (g is not None)
            else []
        )
        city = ""
        if g is not None and g["city"].notna().any():
            city = str(g["city"].dropna().iloc[-1])
        req = RecRequest(
            user_id=u,
            history=[h for h in hist if isinstance(h[0], str)],
            now=now,
            city=city,
            k=K,
            exclude_item_ids=frozenset(seen),
        )
        out[u] = [c.item_id for c in model.recommend(req)]
    return out


def _fit_and_score(
    ds: Dataset, cutoff: pd.Timestamp, horizon_days: int, encoder: Encoder, config: RecsConfig, progress: bool
) -> dict[str, float]:
    assert ds.items is not None
    touched, relevant = protocol(ds.events, cutoff, horizon_days)
    with tempfile.TemporaryDirectory(prefix="recsvc-eval-") as tmp:
        path = train_recs(
            ds.events[ds.events["ts"] < cutoff],
            ds.items,
            out_dir=Path(tmp),
            encoder=encoder,
            config=config,
            cutoff=cutoff,
            progress=progress,
            users=ds.users,
        )
        model = RecsModel.load(path, encoder)
        recs = _model_recs(model, ds.events, cutoff, touched, progress)
        out = score_lists(recs, relevant)
        out["ranker_valid_ndcg@10"] = model.metadata["ranker"].get("valid_ndcg@10", float("nan"))
        out["index_recall@10"] = model.metadata["index"].get("recall_at_10", float("nan"))
    return out


def evaluate_recs(
    ds: Dataset,
    cutoff: pd.Timestamp | str,
    horizon_days: int,
    *,
    encoder: Encoder,
    progress: bool = True,
    config: RecsConfig | None = None,
) -> dict[str, Any]:
    """Recall@10 / NDCG@10 of the recommender and of popularity and tuned-ALS baselines."""
    if ds.items is None or len(ds.items) == 0:
        raise FailedPrecondition(
            f"data set {ds.name!r} has no items table: product recommendations need item text"
        )
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon_days must be positive, got {horizon_days}", field="horizon_days")
    cut = pd.Timestamp(cutoff)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    cfg = replace(config or RecsConfig(), label_days=horizon_days).validate()
    touched, relevant = protocol(ds.events, cut, horizon_days)
    if not relevant:
        raise FailedPrecondition(
            f"no user of {ds.name!r} has a new item within {horizon_days} days after {cut}"
        )
    ours = _fit_and_score(ds, cut, horizon_days, encoder, cfg, progress)
    pop = score_lists(popularity_recs(ds.events, cut, touched), relevant)
    pop_recent = score_lists(popularity_recs(ds.events, cut, touched, window_days=horizon_days), relevant)
    best_params, val_metrics = tune_als(ds.events, cut, horizon_days, progress=progress, seed=cfg.seed)
    als = score_lists(als_recs(ds.events, cut, list(relevant), best_params, cfg.seed), relevant)
    result: dict[str, Any] = {
        "recall@10": ours["recall@10"],
        "ndcg@10": ours["ndcg@10"],
        "n_users": len(relevant),
        "cutoff": cut.isoformat(),
        "horizon_days": horizon_days,
        "ranker_valid_ndcg@10": ours["ranker_valid_ndcg@10"],
        "index_recall@10": ours["index_recall@10"],
        "baselines": {
            "popularity": pop,
            "popularity_recent": {**pop_recent, "window_days": horizon_days},
            "als": {**als, "params": best_params, "validation": val_metrics},
        },
    }
    logger.info("recs evaluation on %s: %s", ds.name, result)
    return result
