"""Products baselines for ``recsvc evaluate recs``: popularity (all time and recent), implicit ALS,
EASE and item-kNN, each fitted on the user x item activity before a cut-off.

Every baseline filters the items the user touched before the cut-off and, when its own scores
cannot fill ten slots (a user with no item history, or ties at zero), fills the rest with the most
popular unseen items: a list of fewer than ten would only handicap it. Knobs (ALS factors,
regularization and confidence; EASE's L2 weight; kNN's neighbourhood size) are tuned by
:func:`tune` on a validation split that ends at the cut-off, never on the judged horizon.

EASE and item-kNN weights come from :mod:`recsvc.recs.item_item` and ALS is fitted by
:mod:`recsvc.recs.als`, the modules serving uses: the baselines and recsvc's own EASE and ALS
sources are the same models. A user's score for an item sums the weights from the items the user
touched (EASE, kNN) or is the dot product of their factors (ALS).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsvc.evaluation.activity import activity
from recsvc.recs.als import AlsParams, confidence, fit_als
from recsvc.recs.item_item import ease_weights, knn_weights

logger = logging.getLogger(__name__)

K = 10
ALS_GRID: dict[str, tuple[Any, ...]] = {
    "factors": (16, 64, 128),
    "regularization": (0.01, 0.1, 1.0),
    "alpha": (1.0, 10.0, 40.0),
    "iterations": (15,),
}
EASE_GRID: dict[str, tuple[Any, ...]] = {"lambda": (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 3000.0)}
KNN_GRID: dict[str, tuple[Any, ...]] = {"k": (10, 20, 50, 100, 200, 500)}
# EASE and kNN hold an items x items float64 matrix: beyond this many items they are skipped.
MAX_DENSE_ITEMS = 15_000
_ROW_BLOCK = 2048  # users scored per block: bounds the users x items temporaries

Recommender = Callable[["Interactions", Sequence[str], dict[str, Any]], dict[str, list[str]]]


def item_events(events: pd.DataFrame) -> pd.DataFrame:
    """Activities on an item, with string ids."""
    ev = activity(events)
    ev = ev[ev["item_id"].notna()]
    return ev.assign(item_id=ev["item_id"].astype(str), user_id=ev["user_id"].astype(str))


@dataclass(frozen=True)
class Interactions:
    """User x item activity counts before a cut-off (rows ``users``, columns ``items``)."""

    users: pd.Index
    items: pd.Index
    counts: sp.csr_matrix

    def binary(self) -> sp.csr_matrix:
        x = self.counts.copy()
        x.data = np.ones_like(x.data)
        return x

    def rows_of(self, users: Sequence[str]) -> sp.csr_matrix:
        """Rows for ``users``; users without item history get an empty row."""
        pos = self.users.get_indexer(pd.Index(list(users)))
        x = self.counts[np.maximum(pos, 0)].tocsr()
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            keep = np.ones(len(pos), dtype=np.float32)
            keep[missing] = 0.0
            x = sp.csr_matrix(sp.diags(keep) @ x)
            x.eliminate_zeros()
        return x


def interactions(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    *,
    catalog: Collection[str] | None = None,
    since: pd.Timestamp | None = None,
) -> Interactions:
    """Counts of activities per (user, item) in ``[since, cutoff)``, items limited to ``catalog``."""
    ev = item_events(events)
    ev = ev[ev["ts"] < cutoff]
    if since is not None:
        ev = ev[ev["ts"] >= since]
    if catalog is not None:
        ev = ev[ev["item_id"].isin(catalog)]
    uid, ucodes = pd.factorize(ev["user_id"])
    iid, icodes = pd.factorize(ev["item_id"])
    counts = sp.csr_matrix((np.ones(len(ev), dtype=np.float32), (uid, iid)), shape=(len(ucodes), len(icodes)))
    counts.sum_duplicates()
    return Interactions(pd.Index(ucodes, dtype=object), pd.Index(icodes, dtype=object), counts)


def popularity_scores(inter: Interactions) -> np.ndarray:
    """Distinct users per item column."""
    return np.asarray(inter.binary().sum(axis=0), dtype=np.float64).ravel()


def _top_k(
    inter: Interactions, users: Sequence[str], score_rows: Callable[[sp.csr_matrix], np.ndarray]
) -> dict[str, list[str]]:
    """Top ``K`` unseen items per user by score, ties (and empty scores) broken by popularity."""
    pop = popularity_scores(inter)
    out: dict[str, list[str]] = {}
    items = inter.items.to_numpy()
    for lo in range(0, len(users), _ROW_BLOCK):
        block = list(users[lo : lo + _ROW_BLOCK])
        x = inter.rows_of(block)
        s = np.asarray(score_rows(x), dtype=np.float64)
        s[x.nonzero()] = -np.inf
        order = np.lexsort((np.broadcast_to(-pop, s.shape), -s), axis=-1)[:, :K]
        for r, u in enumerate(block):
            top = order[r]
            out[u] = [str(items[i]) for i in top[np.isfinite(s[r, top])]]
    return out


def popularity_recs(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    touched: dict[str, set[str]],
    *,
    window_days: int | None = None,
    catalog: Collection[str] | None = None,
) -> dict[str, list[str]]:
    """Items with the most distinct users before the cut-off (optionally only the last ``window_days``)."""
    since = cutoff - pd.Timedelta(days=window_days) if window_days is not None else None
    inter = interactions(events, cutoff, catalog=catalog, since=since)
    pop = popularity_scores(inter)
    ranked = [str(i) for i in inter.items.to_numpy()[np.argsort(-pop, kind="stable")]]
    return {u: list(itertools.islice((i for i in ranked if i not in seen), K)) for u, seen in touched.items()}


def _backfill(recs: list[str], seen: set[str], ranked: Sequence[str]) -> list[str]:
    if len(recs) >= K:
        return recs[:K]
    have = set(recs) | seen
    return recs + list(itertools.islice((i for i in ranked if i not in have), K - len(recs)))


def als_recs(inter: Interactions, users: Sequence[str], params: dict[str, Any], seed: int = 0) -> dict[str, list[str]]:
    """Top-10 of implicit's ALS on confidence 1 + alpha * count, seen items filtered, popularity backfill."""
    conf = confidence(inter.counts, float(params["alpha"]))
    als = AlsParams(
        int(params["factors"]), float(params["regularization"]), float(params["alpha"]), int(params["iterations"])
    )
    model = fit_als(conf, als, seed)
    pop = popularity_scores(inter)
    items = inter.items.to_numpy()
    ranked = [str(i) for i in items[np.argsort(-pop, kind="stable")]]
    row_of = {u: i for i, u in enumerate(inter.users)}
    known = [u for u in users if u in row_of]
    got: dict[str, list[str]] = {}
    if known:
        rows = np.array([row_of[u] for u in known])
        ids, _ = model.recommend(rows, conf[rows], N=K, filter_already_liked_items=True)
        got = {u: [str(items[i]) for i in r if i >= 0] for u, r in zip(known, ids, strict=True)}
    out: dict[str, list[str]] = {}
    for u in users:
        seen = set(items[conf[row_of[u]].indices]) if u in row_of else set()
        out[u] = _backfill(got.get(u, []), {str(i) for i in seen}, ranked)
    return out


def ease_recs(inter: Interactions, users: Sequence[str], params: dict[str, Any]) -> dict[str, list[str]]:
    b = ease_weights(inter.binary(), float(params["lambda"]))
    return _top_k(inter, users, lambda x: x.sign() @ b)


def knn_recs(inter: Interactions, users: Sequence[str], params: dict[str, Any]) -> dict[str, list[str]]:
    s = knn_weights(inter.binary(), int(params["k"]))
    return _top_k(inter, users, lambda x: x.sign() @ s)


def dense_ok(inter: Interactions) -> bool:
    return len(inter.items) <= MAX_DENSE_ITEMS


def grid_points(grid: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def tune(
    recommend: Recommender,
    grid: dict[str, tuple[Any, ...]],
    train: Interactions,
    relevant: dict[str, set[str]],
    score: Callable[[dict[str, list[str]], dict[str, set[str]]], dict[str, float]],
    *,
    desc: str = "",
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """The grid point with the best validation NDCG@10 (first wins ties) and its validation metrics."""
    points = grid_points(grid)
    best: tuple[float, dict[str, Any], dict[str, float]] = (-1.0, points[0], {})
    it: Any = points
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(points, desc=f"{desc} grid", unit="fit")
    for params in it:
        m = score(recommend(train, list(relevant), params), relevant)
        if m["ndcg@10"] > best[0]:
            best = (m["ndcg@10"], params, m)
    logger.info("%s tuned on the validation split: %s (%s)", desc, best[1], best[2])
    return best[1], best[2]
