"""Knobs of the product recommender chosen on a time split that ends at the training end.

EASE's L2 weight and ALS's factors, regularization and confidence weight: fitted on the events
before ``end - label_days``, judged on what users touched for the first time in the last
``label_days`` (the evaluation's protocol, one window earlier), by NDCG@10 of each user's top ten
unseen items. The judged window is before the training end, so
tuning never sees what the model will be evaluated or served on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsvc.recs.als import AlsParams, als_items, confidence, fit_als, user_factor
from recsvc.recs.config import RecsConfig
from recsvc.recs.item_item import binary_matrix, count_matrix, ease_from_gram, gram, head_by_users
from recsvc.recs.unixtime import DAY

logger = logging.getLogger(__name__)

K = 10


@dataclass(frozen=True)
class TimeSplit:
    """Binary users x head-items history before the split, and each judged user's new items in the
    window after it (as column sets)."""

    x: sp.csr_matrix  # users x head columns
    head: np.ndarray  # item rows of the columns
    relevant: dict[int, set[int]] = field(default_factory=dict)  # user code -> new columns
    counts: sp.csr_matrix | None = None  # users x head columns: events per pair


def time_split(ev: pd.DataFrame, t_end: float, config: RecsConfig, max_items: int | None = None) -> TimeSplit:
    """The split at ``t_end - label_days``: history, the ``max_items`` (default ``ease_max_items``)
    items with the most users and judged users (a seeded sample of at most ``max_train_users``)."""
    max_items = config.ease_max_items if max_items is None else max_items
    split = t_end - config.label_days * DAY
    hist = ev[ev["t"] < split]
    fut = ev[(ev["t"] >= split) & (ev["t"] < t_end)]
    users, codes = pd.factorize(hist["user_id"])
    n_rows = int(ev["row"].max()) + 1 if len(ev) else 0
    counts = np.bincount(hist[["user_id", "row"]].drop_duplicates()["row"].to_numpy(), minlength=n_rows)
    head = head_by_users(counts, max_items)
    col_of = np.full(n_rows, -1, dtype=np.int64)
    col_of[head] = np.arange(len(head))
    cols = col_of[hist["row"].to_numpy()]
    ok = cols >= 0
    x = binary_matrix(users[ok], cols[ok], len(codes), len(head))
    n_pairs = count_matrix(users[ok], cols[ok], len(codes), len(head))
    code_of = {u: i for i, u in enumerate(codes)}
    relevant: dict[int, set[int]] = {}
    for u, rows in fut.groupby("user_id", sort=False)["row"]:
        c = code_of.get(u)
        if c is None:
            continue
        new = {int(j) for j in col_of[rows.to_numpy()] if j >= 0} - set(x[c].indices.tolist())
        if new:
            relevant[c] = new
    if len(relevant) > config.max_train_users:
        rng = np.random.default_rng(config.seed)
        keep = rng.choice(sorted(relevant), config.max_train_users, replace=False)
        relevant = {int(c): relevant[int(c)] for c in keep}
    return TimeSplit(x, head, relevant, n_pairs)


def ndcg_at_k(scores: np.ndarray, seen: list[np.ndarray], relevant: list[set[int]]) -> float:
    """Mean NDCG@10 (binary gains) of each row's top ten columns, its ``seen`` columns excluded."""
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    total = 0.0
    for s, skip, rel in zip(scores, seen, relevant, strict=True):
        s = s.copy()
        s[skip] = -np.inf
        k = min(K, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        gains = np.array([1.0 if int(j) in rel else 0.0 for j in top])
        total += float((gains * discounts[:k]).sum() / discounts[: min(len(rel), K)].sum())
    return total / max(len(relevant), 1)


def tune_ease_lambda(ev: pd.DataFrame, t_end: float, config: RecsConfig) -> tuple[float, dict[str, float]]:
    """The ``config.ease_lambdas`` value with the best validation NDCG@10 (first wins ties), and every
    value's score; the middle of the grid when the split judges nobody."""
    grid = sorted(config.ease_lambdas)
    fallback = grid[len(grid) // 2]
    split = time_split(ev, t_end, config)
    x = split.x
    if not split.relevant or len(split.head) < 2:
        logger.info("EASE: nobody to judge before %s; lambda %s untuned", t_end, fallback)
        return fallback, {}
    users = sorted(split.relevant)
    rows = x[users]
    seen = [rows[i].indices for i in range(len(users))]
    rel = [split.relevant[u] for u in users]
    g = gram(x)
    tried: dict[str, float] = {}
    best = (-1.0, fallback)
    for lam in grid:
        score = ndcg_at_k(np.asarray(rows @ ease_from_gram(g, lam)), seen, rel)
        tried[str(lam)] = round(score, 4)
        if score > best[0]:
            best = (score, lam)
    logger.info("EASE lambda %s on the split before the training end (%s)", best[1], tried)
    return best[1], tried


def als_grid(config: RecsConfig) -> list[AlsParams]:
    """Every (factors, regularization, alpha) of the config's grids, in order."""
    return [
        AlsParams(int(f), float(r), float(a), config.als_iterations)
        for f in config.als_factors
        for r in config.als_regularizations
        for a in config.als_alphas
    ]


def tune_als(ev: pd.DataFrame, t_end: float, config: RecsConfig) -> tuple[AlsParams, dict[str, float]]:
    """The ALS grid point with the best validation NDCG@10 (first wins ties), and every point's
    score; the first point when the split judges nobody. Users are scored as serving scores them:
    by the factor the closed-form user step gives their history, not by the fitted user factor."""
    grid = als_grid(config)
    split = time_split(ev, t_end, config, max_items=config.als_max_items)
    if not split.relevant or len(split.head) < 2 or split.counts is None:
        logger.info("ALS: nobody to judge before %s; %s untuned", t_end, grid[0])
        return grid[0], {}
    users = sorted(split.relevant)
    hist = split.counts[users]
    seen = [hist[i].indices for i in range(len(users))]
    rel = [split.relevant[u] for u in users]
    tried: dict[str, float] = {}
    best = (-1.0, grid[0])
    for params in grid:
        model = fit_als(confidence(split.counts, params.alpha), params, config.seed)
        als = als_items(split.head, np.asarray(model.item_factors), params)
        x = np.stack(
            [
                user_factor(als.factors, als.yty, als.regularization, als.alpha, hist[i].indices, hist[i].data)
                for i in range(len(users))
            ]
        )
        score = ndcg_at_k(x @ als.factors.T.astype(np.float64), seen, rel)
        key = f"factors={params.factors},regularization={params.regularization},alpha={params.alpha}"
        tried[key] = round(score, 4)
        if score > best[0]:
            best = (score, params)
    logger.info("ALS %s on the split before the training end (%s)", best[1], tried)
    return best[1], tried
