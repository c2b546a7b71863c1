"""Candidate sources: each proposes item rows with a score, and the merge keeps who proposed what.

Everything works on integer item *rows* (positions in the model's item table) so that a request
is a handful of numpy operations over the user's profile (``profile.py``) and the item
statistics (``item_stats.py``). Discovery sources (embedding, co-occurrence, EASE, ALS, popularity)
skip touched and excluded rows; cart and repurchase bring touched items back on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsvc.recs.als import user_scores
from recsvc.recs.config import RecsConfig
from recsvc.recs.item_item import dense_scores, neighbour_scores
from recsvc.recs.item_stats import ItemStats
from recsvc.recs.profile import UserProfile
from recsvc.recs.rowsets import unique_rows
from recsvc.recs.unixtime import DAY

SOURCES: tuple[str, ...] = (
    "embedding",
    "co_occurrence",
    "popular",
    "popular_city",
    "popular_segment",
    "popular_hour",
    "cart",
    "repurchase",
    "ease",
    "popular_recent",
    "als",
)
SOURCE_INDEX = {s: i for i, s in enumerate(SOURCES)}

# one source's proposal: (column in SOURCES, rows, scores)
_Part = tuple[int, np.ndarray, np.ndarray]


@dataclass
class Candidates:
    """Merged candidate rows with per-source flags and scores (columns follow ``SOURCES``)."""

    rows: np.ndarray
    flags: np.ndarray  # (n, n_sources) bool
    scores: np.ndarray  # (n, n_sources) float32
    cooc_map: tuple[np.ndarray, np.ndarray]  # (sorted rows, summed co-occurrence score) for features
    cooc_max: tuple[np.ndarray, np.ndarray]
    # (sorted rows, summed EASE weight) from the whole history and from its latest items, for features
    ease_map: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: _empty_map())
    ease_recent_map: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: _empty_map())
    # (sorted rows, ALS score of the user factor solved from the history), for features
    als_map: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: _empty_map())


def _empty_map() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


# the history items whose EASE weights make the ``ease_recent`` feature (the user's current taste)
EASE_RECENT_ITEMS = 3


def ease_maps(profile: UserProfile, stats: ItemStats) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """EASE scores of every reachable row from the whole history, and from its latest items."""
    if not profile.has_history:
        return _empty_map(), _empty_map()
    recent_rows = profile.rows[:EASE_RECENT_ITEMS]
    if stats.has_dense_ease:
        # EASE's score is X_u B on binary X: every touched item counts once, with every weight
        touched = np.fromiter(profile.touched, dtype=np.int64, count=len(profile.touched))
        full = dense_scores(stats.ease_col, stats.ease_dense, stats.ease_head, touched)
        recent = dense_scores(stats.ease_col, stats.ease_dense, stats.ease_head, recent_rows)
        return full, recent
    # the neighbour lists: the history_max most recent items and their largest weights
    full = neighbour_scores(stats.ease_nbr, stats.ease_score, profile.rows)
    recent = neighbour_scores(stats.ease_nbr, stats.ease_score, recent_rows)
    return full, recent


def als_map(profile: UserProfile, stats: ItemStats) -> tuple[np.ndarray, np.ndarray]:
    """ALS scores of every fitted row for the user factor that the ALS user step gives this history."""
    if not profile.has_history:
        return _empty_map()
    return user_scores(stats.als, profile.touched_rows, profile.touched_counts)


def _take_top(rows: np.ndarray, scores: np.ndarray, k: int, banned: _Banned) -> tuple[np.ndarray, np.ndarray]:
    if k <= 0 or len(rows) == 0:
        return rows[:0], scores[:0]
    if banned.any:
        ok = ~banned.mask[rows]
        rows, scores = rows[ok], scores[ok]
    if len(rows) > k:
        sel = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[sel], scores[sel]
    return rows, scores


class _Banned:
    """Rows a source must skip, as a mask over the catalog: one lookup per proposed row, where a
    set-membership test per source would sort both arrays."""

    def __init__(self, rows: np.ndarray, n_rows: int) -> None:
        self.count = len(rows)
        self.any = self.count > 0
        self.mask = np.zeros(max(n_rows, int(rows.max()) + 1 if self.any else 0), dtype=bool)
        if self.any:
            self.mask[rows] = True


def _no_cooc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)


def cooc_scores(profile: UserProfile, stats: ItemStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summed (by the user's taste weights) and max co-occurrence score of each neighbour row."""
    if not profile.has_history:
        return _no_cooc()
    src = profile.rows
    w = profile.weights / max(float(profile.weights.max()), 1e-12)
    nbr = stats.cooc_nbr[src].ravel()
    sc = (stats.cooc_score[src] * w[:, None].astype(np.float32)).ravel()
    ok = nbr >= 0
    nbr, sc = nbr[ok], sc[ok]
    if not len(nbr):
        return _no_cooc()
    uniq, inv = unique_rows(nbr)
    total = np.bincount(inv, weights=sc, minlength=len(uniq)).astype(np.float32)
    mx = np.zeros(len(uniq), dtype=np.float32)
    np.maximum.at(mx, inv, sc)
    return uniq.astype(np.int64), total, mx


def generate(
    profile: UserProfile,
    stats: ItemStats,
    *,
    config: RecsConfig,
    embedding_hits: tuple[np.ndarray, np.ndarray] | None,
    city: str,
    hour: int,
    now: float,
    banned: np.ndarray,
    hard_banned: np.ndarray | None = None,
    trigger: str = "scheduled",
    hits_from_query: bool = False,
) -> Candidates:
    """Run every source and merge. ``banned`` rows (exclusions, touched items) are skipped by the
    discovery sources; cart and repurchase only skip ``hard_banned`` (explicit exclusions), and so
    do ``embedding_hits`` that a query retrieved (``hits_from_query``): a searcher asks for what
    matches, seen before or not."""
    n_rows = len(stats.pop)
    soft = _Banned(banned, n_rows)
    hard = soft if hard_banned is None else _Banned(hard_banned, n_rows)
    parts: list[_Part] = []
    if embedding_hits is not None:
        r, s = embedding_hits
        skip = hard if hits_from_query else soft
        parts.append((SOURCE_INDEX["embedding"], *_take_top(r, s, config.k_embedding, skip)))
    c_rows, c_sum, c_max = cooc_scores(profile, stats)
    parts.append((SOURCE_INDEX["co_occurrence"], *_take_top(c_rows, c_sum, config.k_cooc, soft)))
    head = stats.pop_order[: config.k_popular + soft.count]
    parts.append((SOURCE_INDEX["popular"], *_take_top(head, stats.pop[head], config.k_popular, soft)))
    if city and city in stats.city_top:
        r, s = stats.city_top[city]
        parts.append((SOURCE_INDEX["popular_city"], *_take_top(r, s, config.k_city, soft)))
    if profile.cat_affinity:
        fav = max(profile.cat_affinity.items(), key=lambda kv: kv[1])[0]
        if fav in stats.seg_top:
            r, s = stats.seg_top[fav]
            parts.append((SOURCE_INDEX["popular_segment"], *_take_top(r, s, config.k_segment, soft)))
    if hour in stats.hour_top:
        r, s = stats.hour_top[hour]
        parts.append((SOURCE_INDEX["popular_hour"], *_take_top(r, s, config.k_hour, soft)))
    if len(profile.cart):
        cart = profile.cart
        score = np.ones(len(cart), dtype=np.float32) * (2.0 if trigger == "cart_idle" else 1.0)
        parts.append((SOURCE_INDEX["cart"], *_take_top(cart, score, len(cart), hard)))
    if profile.bought_last:
        parts.append(_repurchase(profile, stats, now, config.k_cooc, hard))
    ease, ease_recent = ease_maps(profile, stats)
    parts.append((SOURCE_INDEX["ease"], *_take_top(*ease, config.k_ease, soft)))
    head = stats.recent_order[: config.k_popular_recent + soft.count]
    recent = stats.recent_users[head].astype(np.float32)
    parts.append((SOURCE_INDEX["popular_recent"], *_take_top(head, recent, config.k_popular_recent, soft)))
    als = als_map(profile, stats)
    parts.append((SOURCE_INDEX["als"], *_take_top(*als, config.k_als, soft)))
    cands = _merge(parts, (c_rows, c_sum), (c_rows, c_max))
    cands.ease_map, cands.ease_recent_map, cands.als_map = ease, ease_recent, als
    return cands


def _repurchase(profile: UserProfile, stats: ItemStats, now: float, k: int, hard_banned: _Banned) -> _Part:
    """Consumables bought before and due again: at least 80% of their usual interval has passed."""
    b_rows = np.fromiter(profile.bought_last.keys(), dtype=np.int64)
    b_t = np.fromiter(profile.bought_last.values(), dtype=np.float64)
    interval = stats.interval_days[b_rows]
    due = (now - b_t) / DAY / np.where(np.isfinite(interval) & (interval > 0), interval, np.inf)
    ok = stats.consumable[b_rows] & (due >= 0.8)
    return (SOURCE_INDEX["repurchase"], *_take_top(b_rows[ok], due[ok].astype(np.float32), k, hard_banned))


def _merge(
    parts: list[_Part], cooc_map: tuple[np.ndarray, np.ndarray], cooc_max: tuple[np.ndarray, np.ndarray]
) -> Candidates:
    """One row per distinct proposed item, flagged and scored by every source that proposed it."""
    all_rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    uniq, inv = unique_rows(all_rows.astype(np.int64))
    flags = np.zeros((len(uniq), len(SOURCES)), dtype=bool)
    scores = np.zeros((len(uniq), len(SOURCES)), dtype=np.float32)
    pos = 0
    for src, r, s in parts:
        idx = inv[pos : pos + len(r)]
        flags[idx, src] = True
        scores[idx, src] = s
        pos += len(r)
    return Candidates(uniq, flags, scores, cooc_map, cooc_max)
