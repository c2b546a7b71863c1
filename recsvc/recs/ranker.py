"""LightGBM LambdaRank over merged candidates: features, training and scoring.

Features are computed per request from the user profile, the item statistics and the sources'
scores, in numpy, so serving and training share one function and cannot drift apart.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsvc.compiled_trees import TreeScorer
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.booster_average import average_boosters
from recsvc.recs.config import RecsConfig
from recsvc.recs.item_stats import ItemStats
from recsvc.recs.profile import UserProfile
from recsvc.recs.sources import SOURCES, Candidates
from recsvc.recs.unixtime import DAY

logger = logging.getLogger(__name__)

FEATURE_NAMES: tuple[str, ...] = (
    *(f"src_{s}" for s in SOURCES),
    "n_sources",
    *(f"score_{s}" for s in ("embedding", "popular_city", "popular_segment", "popular_hour", "repurchase")),
    "emb_sim",
    "query_sim",
    "cooc_score",
    "cooc_max",
    "pop_log",
    "pop_rank_pct",
    "trend_log",
    "trend_ratio",
    "city_pop_log",
    "n_users_log",
    "cat_affinity",
    "price_log",
    "price_ratio_log",
    "item_age_days",
    "item_age_share",
    "item_idle_days",
    "user_events_log",
    "user_items",
    "user_tenure_days",
    "user_idle_days",
    "touched",
    "in_cart",
    "days_since_bought",
    "consumable",
    "stage",
    "has_query",
    "ease_score",
    "ease_rank_pct",
    "ease_recent",
    "recent_users_log",
    "repeat_rate",
    "days_since_touched",
    "als_score",
    "als_rank_pct",
)


def build_features(
    cands: Candidates,
    profile: UserProfile,
    stats: ItemStats,
    *,
    cand_vectors: np.ndarray,
    cat_codes: np.ndarray,
    prices: np.ndarray,
    city: str,
    now: float,
    stage: int,
) -> np.ndarray:
    """One row per candidate, columns in ``FEATURE_NAMES`` order (float32, NaN = unknown)."""
    rows = cands.rows
    n = len(rows)
    cols = [
        *_source_columns(cands),
        *_match_columns(cands, profile, cand_vectors),
        *_popularity_columns(rows, stats, city),
        *_taste_columns(rows, profile, cat_codes, prices),
        *_age_columns(rows, stats, now),
        *_user_columns(rows, profile, now),
        stats.consumable[rows].astype(np.float32),
        np.full(n, stage, dtype=np.float32),
        np.full(n, 1.0 if profile.query_vector is not None else 0.0, dtype=np.float32),
        *_item_item_columns(cands),
        np.log1p(stats.recent_users[rows]).astype(np.float32),
        stats.repeat_rate[rows].astype(np.float32),
        _days_since_touched(rows, profile, now),
        *_als_columns(cands),
    ]
    x = np.column_stack(cols).astype(np.float32) if n else np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    assert x.shape[1] == len(FEATURE_NAMES)
    return x


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan, dtype=np.float32)


def _source_columns(cands: Candidates) -> list[np.ndarray]:
    """src_* flags, n_sources and the score_* of the sources whose scores mean something alone."""
    cols: list[np.ndarray] = [cands.flags[:, i].astype(np.float32) for i in range(len(SOURCES))]
    cols.append(cands.flags.sum(axis=1).astype(np.float32))
    for s in ("embedding", "popular_city", "popular_segment", "popular_hour", "repurchase"):
        cols.append(cands.scores[:, SOURCES.index(s)])
    return cols


def _match_columns(cands: Candidates, profile: UserProfile, cand_vectors: np.ndarray) -> list[np.ndarray]:
    """emb_sim, query_sim, cooc_score, cooc_max: how well each candidate fits this user."""
    n = len(cands.rows)
    has_vec = bool(np.any(profile.vector))
    emb = cand_vectors @ profile.vector if has_vec else _nan(n)
    q = profile.query_vector
    return [
        emb.astype(np.float32),
        (cand_vectors @ q).astype(np.float32) if q is not None else _nan(n),
        lookup(cands.cooc_map[0], cands.cooc_map[1], cands.rows),
        lookup(cands.cooc_max[0], cands.cooc_max[1], cands.rows),
    ]


def _popularity_columns(rows: np.ndarray, stats: ItemStats, city: str) -> list[np.ndarray]:
    """pop_log, pop_rank_pct, trend_log, trend_ratio, city_pop_log, n_users_log."""
    # popularity relative to the average item, so windows of different activity look alike
    pop = stats.pop[rows] / stats.pop_mean
    trend = stats.trend[rows] / stats.trend_mean
    if city and city in stats.city_top:
        cr, cs = stats.city_top[city]
        order = np.argsort(cr)
        city_pop = np.log1p(lookup(cr[order], cs[order], rows) / stats.pop_mean)
    else:
        city_pop = _nan(len(rows))
    return [
        np.log1p(pop),
        stats.pop_rank_pct[rows].astype(np.float32),
        np.log1p(trend),
        ((trend + 0.1) / (pop + 0.1)).astype(np.float32),
        city_pop,
        np.log1p(stats.n_users[rows]),
    ]


def _taste_columns(
    rows: np.ndarray, profile: UserProfile, cat_codes: np.ndarray, prices: np.ndarray
) -> list[np.ndarray]:
    """cat_affinity, price_log, price_ratio_log (against the user's median price)."""
    n = len(rows)
    aff = profile.cat_affinity
    codes = cat_codes[rows]
    price = prices[rows]
    mp = profile.median_price
    return [
        np.array([aff.get(int(c), 0.0) for c in codes.tolist()], dtype=np.float32) if aff else _nan(n),
        np.log1p(np.maximum(price, 0)).astype(np.float32),
        (np.log1p(np.maximum(price, 0)) - np.log1p(mp)).astype(np.float32) if np.isfinite(mp) else _nan(n),
    ]


def _age_columns(rows: np.ndarray, stats: ItemStats, now: float) -> list[np.ndarray]:
    """item_age_days, item_age_share, item_idle_days."""
    age = now - stats.first_seen[rows]
    return [
        (age / DAY).astype(np.float32),
        # share of the observed log the item has existed: ~1 means "as old as the log", age unknown
        (age / max(now - stats.t_start, DAY)).astype(np.float32),
        ((now - stats.last_seen[rows]) / DAY).astype(np.float32),
    ]


def _user_columns(rows: np.ndarray, profile: UserProfile, now: float) -> list[np.ndarray]:
    """user_events_log, user_items, user_tenure_days, user_idle_days, touched, in_cart, days_since_bought."""
    n = len(rows)
    tenure = (now - profile.first_t) / DAY if profile.has_history else np.nan
    idle = (now - profile.last_event_t) / DAY if profile.has_history else np.nan
    touched = profile.touched
    bl = profile.bought_last
    return [
        np.full(n, np.log1p(profile.n_events), dtype=np.float32),
        np.full(n, len(profile.touched), dtype=np.float32),
        np.full(n, tenure, dtype=np.float32),
        np.full(n, idle, dtype=np.float32),
        np.array([r in touched for r in rows.tolist()], dtype=np.float32) if touched else np.zeros(n, dtype=np.float32),
        np.isin(rows, profile.cart).astype(np.float32),
        np.array([(now - bl[r]) / DAY if r in bl else np.nan for r in rows.tolist()], dtype=np.float32)
        if bl
        else _nan(n),
    ]


def _item_item_columns(cands: Candidates) -> list[np.ndarray]:
    """ease_score, ease_rank_pct (the candidate's rank among every item EASE scores for this user,
    0 = best, 1 = not scored), ease_recent (EASE from the latest history items alone)."""
    rows = cands.rows
    e_rows, e_scores = cands.ease_map
    return [
        lookup(e_rows, e_scores, rows),
        ease_rank_share(e_rows, e_scores, rows),
        lookup(cands.ease_recent_map[0], cands.ease_recent_map[1], rows),
    ]


def _als_columns(cands: Candidates) -> list[np.ndarray]:
    """als_score (NaN where ALS scores nothing for this user: no fitted item in the history, or the
    candidate has no factor) and als_rank_pct (its rank among every row ALS scores, 0 = best,
    1 = not scored)."""
    a_rows, a_scores = cands.als_map
    return [
        lookup(a_rows, a_scores, cands.rows, default=np.nan),
        ease_rank_share(a_rows, a_scores, cands.rows),
    ]


# tied candidates counted one by one up to this many; more ties rank every scored row
_MAX_TIES = 8


def ease_rank_share(e_rows: np.ndarray, e_scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rank of each of ``rows`` among the EASE-scored ``e_rows`` (sorted) by score, best first,
    equal scores in row order, as a share of their number (1 where not scored). Only the asked rows
    are ranked: the rows better than a row are counted in the sorted scores, and equal scores before
    it one by one (a stable sort of every scored row gives the same ranks)."""
    out = np.ones(len(rows), dtype=np.float32)
    n = len(e_rows)
    if n == 0 or len(rows) == 0:
        return out
    pos = np.minimum(np.searchsorted(e_rows, rows), n - 1)
    hit = e_rows[pos] == rows
    p = pos[hit]
    neg = -e_scores
    v = neg[p]
    ordered = np.sort(neg)
    rank = np.searchsorted(ordered, v, "left")
    tied = np.flatnonzero(np.searchsorted(ordered, v, "right") - rank > 1)
    if len(tied) > _MAX_TIES:
        every = np.empty(n, dtype=np.int64)
        every[np.argsort(neg, kind="stable")] = np.arange(n)
        rank = every[p]
    else:
        for t in tied.tolist():
            rank[t] += int(np.count_nonzero(neg[: p[t]] == v[t]))
    out[hit] = rank.astype(np.float32) / max(n, 1)
    return out


def _days_since_touched(rows: np.ndarray, profile: UserProfile, now: float) -> np.ndarray:
    """Days since the user last touched each candidate (NaN if never): recency of a known item."""
    if not profile.has_history:
        return _nan(len(rows))
    keys = profile.rows
    order = np.argsort(keys, kind="stable")
    pos = np.minimum(np.searchsorted(keys[order], rows), len(keys) - 1)
    hit = keys[order][pos] == rows
    days = (now - profile.last_t[order][pos]) / DAY  # float64: unix seconds lose hours in float32
    return np.where(hit, days, np.nan).astype(np.float32)


def lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float = 0.0) -> np.ndarray:
    """Vectorised dict lookup on a sorted key array."""
    out = np.full(len(query), default, dtype=np.float32)
    if len(sorted_keys) == 0 or len(query) == 0:
        return out
    pos = np.searchsorted(sorted_keys, query)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    hit = sorted_keys[pos] == query
    out[hit] = values[pos[hit]]
    return out


# Weights of EASE's order in the served order, tried on the held-out groups (0 = the ranker alone,
# 1 = EASE alone): a ranker that cannot beat the strongest single source there does not replace it.
EASE_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
_EASE_COL = FEATURE_NAMES.index("ease_score")
_TOUCHED_COL = FEATURE_NAMES.index("touched")


def rank_share(score: np.ndarray) -> np.ndarray:
    """Each entry's place in ``score``'s descending order as a share of its length (0 = best)."""
    out = np.empty(len(score), dtype=np.float64)
    out[np.argsort(-score, kind="stable")] = np.arange(len(score), dtype=np.float64)
    return out / max(len(score), 1)


def ease_blend(pred: np.ndarray, x: np.ndarray, weight: float) -> np.ndarray:
    """One user's candidates ordered by the weighted mean of their places by ``pred`` and by the
    EASE score (unscored candidates last), higher = better; ``pred`` itself at weight 0. EASE
    scores discovery: the user's own items (cart, repurchase) keep the place ``pred`` gives them.
    The blend lies in (0, 1], the best candidate at 1: positive, so that a penalty applied later by
    multiplying a score (a category the user called not relevant) lowers every candidate it hits."""
    if weight <= 0.0 or len(pred) == 0:
        return pred
    ease = np.nan_to_num(x[:, _EASE_COL].astype(np.float64), nan=-np.inf)
    by_pred = rank_share(pred)
    by_ease = np.where(x[:, _TOUCHED_COL] > 0, by_pred, rank_share(ease))
    return 1.0 - ((1.0 - weight) * by_pred + weight * by_ease)


@dataclass
class Ranker:
    """A trained LambdaRank booster and its metrics; ``None`` booster falls back to source scores.
    ``ease_weight`` (chosen on held-out groups) blends the booster's order with EASE's."""

    booster: lgb.Booster | None
    metrics: dict[str, Any]
    model_file: Path | None = None
    _trees: TreeScorer | None = field(default=None, repr=False)

    @property
    def ease_weight(self) -> float:
        return float(self.metrics.get("ease_weight", 0.0))

    @property
    def averaged(self) -> bool:
        """Whether the booster averages several seeds' boosters (and so has several times the trees)."""
        return self.booster is not None and int(self.metrics.get("boosters", 1)) > 1

    def compile(self) -> bool:
        """Score with native (lleaves) trees from now on: the same scores to float rounding (about
        1e-15), several times faster per row. Batch runs call it; the object is cached per machine,
        but the first compile costs seconds of CPU, which a serving process does not spend.
        False, with LightGBM still scoring, when the trees cannot be compiled."""
        if self.booster is None or self.model_file is None:
            return False
        if self._trees is None:
            self._trees = TreeScorer(self.booster, self.model_file, min_rows=0)
        return self._trees.compile()

    def score(self, x: np.ndarray) -> np.ndarray:
        """One user's candidates: :meth:`score_rows`, then blended with EASE's order (:meth:`order`)."""
        return self.order(self.score_rows(x), x)

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """Each row's own score (a row's score depends on that row alone, so rows of many users can
        be scored in one call); the EASE blend of :meth:`order` still applies per user."""
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        if self.booster is None:
            return heuristic_score(x)
        if self._trees is not None and self._trees.backend == "lleaves":
            pred = self._trees.predict(x)
        else:
            pred = np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)
        # the heuristic, scaled far below the model's resolution, only breaks ties
        return pred + 1e-6 * np.tanh(heuristic_score(x) / 10.0)

    def order(self, pred: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One user's final scores from :meth:`score_rows` of their candidates ``x``."""
        if self.booster is None:
            return pred
        return ease_blend(pred, x, self.ease_weight)

    def save(self, folder: Path) -> None:
        if self.booster is not None:
            self.booster.save_model(str(folder / "ranker.txt"))
        (folder / "ranker_metrics.json").write_text(json.dumps(self.metrics, indent=2))

    @classmethod
    def load(cls, folder: Path, expect_booster: bool) -> Ranker:
        path = folder / "ranker.txt"
        mpath = folder / "ranker_metrics.json"
        metrics = json.loads(mpath.read_text()) if mpath.exists() else {}
        if not expect_booster:
            return cls(None, metrics)
        if not path.exists():
            raise FailedPrecondition(f"{path}: missing ranker model")
        booster = lgb.Booster(model_file=str(path))
        names = booster.feature_name()
        if tuple(names) != FEATURE_NAMES:
            raise FailedPrecondition(f"{path}: ranker features {names[:3]}... differ from this code's features")
        return cls(booster, metrics, path)


def heuristic_score(x: np.ndarray) -> np.ndarray:
    """Fallback order when there was too little data to train: affinity, co-occurrence, popularity."""
    f = {name: i for i, name in enumerate(FEATURE_NAMES)}
    emb = np.nan_to_num(x[:, f["emb_sim"]])
    return (
        np.nan_to_num(x[:, f["cooc_score"]])
        + emb
        + 0.3 * x[:, f["pop_log"]]
        + 0.2 * x[:, f["trend_log"]]
        + 3.0 * x[:, f["src_cart"]]
        + 2.0 * x[:, f["src_repurchase"]]
        - 2.0 * x[:, f["touched"]]
    )


def _params(config: RecsConfig, num_leaves: int, min_data_in_leaf: int, seed: int | None = None) -> dict[str, Any]:
    return {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [10],
        "num_leaves": num_leaves,
        "learning_rate": config.learning_rate,
        "min_data_in_leaf": min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "lambdarank_truncation_level": 20,
        "seed": config.seed if seed is None else seed,
        "deterministic": True,
        "num_threads": config.train_threads,
        "verbose": -1,
    }


def train_lambdarank(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    config: RecsConfig,
    *,
    valid_groups: np.ndarray | None = None,
    purged_groups: np.ndarray | None = None,
) -> Ranker:
    """Fit LambdaRank on (features, graded labels, group sizes).

    ``valid_groups`` (bool per group; default: a seeded 20% of users) are held out to pick the
    tree complexity from ``config.ranker_grid`` and the number of rounds by NDCG@10; the chosen
    setting is then refit on all groups. ``purged_groups`` (bool per group) are left out of the
    held-out fits only: groups whose labels overlap the held-out groups' in time. Below
    ``config.ranker_average_below_groups`` groups it is refit with ``config.ranker_seeds`` seeds and
    the boosters averaged (the EASE blend is then chosen against the average on the held-out groups
    too)."""
    if x.shape[1] != len(FEATURE_NAMES):
        raise InvalidArgument(f"expected {len(FEATURE_NAMES)} features, got {x.shape[1]}", field="features")
    n_groups = len(groups)
    if n_groups < 5 or y.sum() == 0:
        logger.warning("too little data for a ranker (%d groups); using the heuristic order", n_groups)
        return Ranker(None, {"trained": False, "groups": int(n_groups)})
    if valid_groups is None or not valid_groups.any() or valid_groups.all():
        rng = np.random.default_rng(config.seed)
        valid_groups = rng.random(n_groups) < 0.2 if n_groups >= 20 else np.zeros(n_groups, dtype=bool)
    is_valid = np.asarray(valid_groups, dtype=bool)
    is_train = ~is_valid
    if purged_groups is not None:
        kept = is_train & ~np.asarray(purged_groups, dtype=bool)
        is_train = kept if kept.any() else is_train  # nothing left to train on: judge as before
    metrics: dict[str, Any] = {
        "trained": True,
        "groups": int(n_groups),
        "valid_groups": int(is_valid.sum()),
        "purged_groups": int((~is_valid & ~is_train).sum()),
        "rows": len(y),
        "positives": int((y > 0).sum()),
    }
    choice = (config.num_leaves, config.min_data_in_leaf, min(config.n_estimators, 100))
    seeds = [
        config.seed + k for k in range(config.ranker_seeds if n_groups < config.ranker_average_below_groups else 1)
    ]
    metrics["boosters"] = len(seeds)
    if is_valid.any():
        row_valid = np.repeat(is_valid, groups)
        train, valid = _split_datasets(x, y, groups, is_train, is_valid)
        choice, best_score, tried, pred = _search_grid(train, valid, x[row_valid], config, choice)
        metrics["valid_ndcg@10"] = round(best_score, 4)
        metrics["grid"] = tried
        if len(seeds) > 1:
            one = binary_ndcg(pred, y[row_valid], groups[is_valid])
            pred = _averaged_valid_pred(train, x[row_valid], config, choice, pred, seeds[1:])
            metrics["valid_binary_ndcg@10_one_booster"] = round(one, 4)
            metrics["valid_binary_ndcg@10_averaged"] = round(binary_ndcg(pred, y[row_valid], groups[is_valid]), 4)
        weight, by_weight = choose_ease_weight(pred, x[row_valid], y[row_valid], groups[is_valid])
        metrics["ease_weight"] = weight
        metrics["valid_binary_ndcg@10_by_ease_weight"] = by_weight
    metrics["params"] = {"num_leaves": choice[0], "min_data_in_leaf": choice[1], "rounds": choice[2]}
    full = lgb.Dataset(x, y, group=groups, feature_name=list(FEATURE_NAMES), free_raw_data=False)
    booster = average_boosters(
        [lgb.train(_params(config, choice[0], choice[1], seed), full, num_boost_round=choice[2]) for seed in seeds]
    )
    imp = booster.feature_importance(importance_type="gain")
    top = np.argsort(-imp)[:10]
    metrics["top_features"] = {FEATURE_NAMES[i]: round(float(imp[i]), 2) for i in top}
    return Ranker(booster, metrics)


def group_ndcg(scores: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k of each group with binary gains (any positive label counts 1), as the offline
    evaluation counts a hit; 0 for a group without a positive."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out = np.zeros(len(groups), dtype=np.float64)
    start = 0
    for g, n in enumerate(groups.tolist()):
        s, rel = scores[start : start + n], y[start : start + n] > 0
        start += n
        n_rel = min(int(rel.sum()), k)
        if n_rel == 0:
            continue
        top = np.argsort(-s, kind="stable")[:k]
        out[g] = float((rel[top] * discounts[: len(top)]).sum() / discounts[:n_rel].sum())
    return out


def binary_ndcg(scores: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int = 10) -> float:
    """Mean of :func:`group_ndcg` over the groups."""
    per = group_ndcg(scores, y, groups, k)
    return float(per.mean()) if len(per) else 0.0


# standard errors by which a blend must beat the ranker alone on the held-out groups to be chosen
_BLEND_MIN_SE = 2.0


def choose_ease_weight(
    pred: np.ndarray, x: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> tuple[float, dict[str, float]]:
    """The ``EASE_WEIGHTS`` entry whose blend of ``pred`` (a ranker that never saw these groups)
    and EASE orders the held-out groups' discovery candidates (items the user never touched: the
    blend orders only those) best by binary NDCG@10 (the smaller weight wins ties), and every
    weight's score. The ranker alone (0) stays unless the best blend beats it by more than
    ``_BLEND_MIN_SE`` standard errors of the per-group gain: a few dozen held-out users are noise."""
    starts = np.concatenate([[0], np.cumsum(groups)]).astype(np.int64)
    new = x[:, _TOUCHED_COL] <= 0
    new_groups = np.add.reduceat(new.astype(np.int64), starts[:-1]) if len(groups) else groups
    tried: dict[str, float] = {}
    per: dict[float, np.ndarray] = {}
    best = (-1.0, 0.0)
    for w in EASE_WEIGHTS:
        blended = np.concatenate([ease_blend(pred[a:b], x[a:b], w) for a, b in itertools.pairwise(starts)])
        per[w] = group_ndcg(blended[new], y[new], new_groups)
        score = float(per[w].mean()) if len(per[w]) else 0.0
        tried[str(w)] = round(score, 4)
        if score > best[0] + 1e-9:
            best = (score, w)
    weight = best[1]
    if weight > 0.0:
        gain = per[weight] - per[0.0]
        se = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else np.inf
        if not gain.mean() > _BLEND_MIN_SE * se:
            weight = 0.0
    return weight, tried


def _averaged_valid_pred(
    train: lgb.Dataset,
    x_valid: np.ndarray,
    config: RecsConfig,
    choice: tuple[int, int, int],
    first: np.ndarray,
    seeds: list[int],
) -> np.ndarray:
    """The held-out rows' mean score over ``first`` (the grid's booster) and boosters of the chosen
    setting trained on the grid's own training Dataset with ``seeds``."""
    preds = [first]
    for seed in seeds:
        booster = lgb.train(_params(config, choice[0], choice[1], seed), train, num_boost_round=choice[2])
        preds.append(np.asarray(booster.predict(x_valid), dtype=np.float64))
    return np.mean(preds, axis=0)


def _split_datasets(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, is_train: np.ndarray, is_valid: np.ndarray
) -> tuple[lgb.Dataset, lgb.Dataset]:
    """The training groups and the held-out groups as LightGBM Datasets binned once, without the
    feature pre-filter, so every grid setting and every averaged member sees the same features."""
    row_train, row_valid = np.repeat(is_train, groups), np.repeat(is_valid, groups)
    train = lgb.Dataset(
        x[row_train],
        y[row_train],
        group=groups[is_train],
        feature_name=list(FEATURE_NAMES),
        free_raw_data=False,
        params={"feature_pre_filter": False},
    )
    valid = lgb.Dataset(x[row_valid], y[row_valid], group=groups[is_valid], reference=train)
    return train, valid


def _search_grid(
    train: lgb.Dataset,
    valid: lgb.Dataset,
    x_valid: np.ndarray,
    config: RecsConfig,
    choice: tuple[int, int, int],
) -> tuple[tuple[int, int, int], float, list[dict[str, Any]], np.ndarray]:
    """Best (num_leaves, min_data_in_leaf, rounds) on the held-out groups (``choice`` when none
    scores), its NDCG@10, every setting tried, and the best setting's scores of ``x_valid``, the
    held-out rows."""
    min_rounds = min(50, config.n_estimators)
    grid = config.ranker_grid or ((config.num_leaves, config.min_data_in_leaf),)
    best_score = -1.0
    tried = []
    best_pred = np.zeros(len(x_valid), dtype=np.float64)
    for leaves, min_leaf in grid:
        evals: dict[str, Any] = {}
        booster = lgb.train(
            _params(config, leaves, min_leaf),
            train,
            num_boost_round=config.n_estimators,
            valid_sets=[valid],
            valid_names=["valid"],
            callbacks=[lgb.record_evaluation(evals), lgb.early_stopping(40, verbose=False)],
        )
        curve = np.asarray(evals["valid"]["ndcg@10"])
        # a tiny validation set can peak after a handful of rounds, leaving coarse, tied scores
        rounds = int(np.argmax(curve[min_rounds - 1 :])) + min_rounds if len(curve) >= min_rounds else min_rounds
        score = float(curve[min(rounds, len(curve)) - 1])
        tried.append(
            {"num_leaves": leaves, "min_data_in_leaf": min_leaf, "rounds": rounds, "valid_ndcg@10": round(score, 4)}
        )
        if score > best_score:
            best_score, choice = score, (leaves, min_leaf, rounds)
            best_pred = np.asarray(booster.predict(x_valid, num_iteration=rounds), dtype=np.float64)
    return choice, best_score, tried, best_pred
