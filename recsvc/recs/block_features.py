""":func:`recsvc.recs.ranker.build_features` for many users' candidates in one pass.

Columns that depend on the candidate row alone are computed once over all the rows; per-user
values (times, medians, the taste vector) are computed per user exactly as the one-user function
computes them and repeated over that user's rows; per-user lookups (co-occurrence, EASE, recency,
purchases, cart) become one lookup over keys ``user * n + row``, which stay sorted when each user's
keys are. Every element is the same operation on the same values as in ``build_features``, so the
matrices are equal bit for bit (a test checks it on every column).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.profile import UserProfile
from recsvc.recs.ranker import FEATURE_NAMES, ease_rank_share, lookup
from recsvc.recs.sources import SOURCES, Candidates
from recsvc.recs.unixtime import DAY

# (candidates, profile, unix time, city, stage) of one user
FeatureInput = tuple[Candidates, UserProfile, float, str, int]
_SCORED = tuple(
    SOURCES.index(s) for s in ("embedding", "popular_city", "popular_segment", "popular_hour", "repurchase")
)


def build_features_block(pipe: CandidatePipeline, users: Sequence[FeatureInput]) -> np.ndarray:
    """The users' feature matrices stacked in order; each user's rows equal ``pipe.features`` of that user."""
    if not users:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    stats = pipe.stats
    rows_each = [c.rows for c, _, _, _, _ in users]
    counts = np.array([len(r) for r in rows_each], dtype=np.int64)
    rows = np.concatenate(rows_each)
    n = len(rows)
    who = np.repeat(np.arange(len(users)), counts)
    span = int(max(len(stats.pop), int(rows.max()) + 1 if n else 0)) + 1

    def per_user(values: Sequence[float], dtype: type = np.float64) -> np.ndarray:
        return np.repeat(np.array(values, dtype=dtype), counts)

    keys_of_rows = rows + who * span

    def keyed(maps: Sequence[tuple[np.ndarray, np.ndarray]], default: float = 0.0) -> np.ndarray:
        return lookup(*_user_keys(maps, span), keys_of_rows, default=default)

    nows = [now for _, _, now, _, _ in users]
    now_r = per_user(nows)
    flags = np.concatenate([c.flags for c, _, _, _, _ in users])
    scores = np.concatenate([c.scores for c, _, _, _, _ in users])
    pop = stats.pop[rows] / stats.pop_mean
    trend = stats.trend[rows] / stats.trend_mean
    price = pipe.items.price[rows]
    age = now_r - stats.first_seen[rows]
    cols: list[np.ndarray] = [
        *(flags[:, i].astype(np.float32) for i in range(len(SOURCES))),
        flags.sum(axis=1).astype(np.float32),
        *(scores[:, i] for i in _SCORED),
        _emb_sim(pipe, users, n),
        np.full(n, np.nan, dtype=np.float32),  # query_sim: block requests have no query
        keyed([c.cooc_map for c, _, _, _, _ in users]),
        keyed([c.cooc_max for c, _, _, _, _ in users]),
        np.log1p(pop),
        stats.pop_rank_pct[rows].astype(np.float32),
        np.log1p(trend),
        ((trend + 0.1) / (pop + 0.1)).astype(np.float32),
        _city_pop(pipe, users, rows_each, n),
        np.log1p(stats.n_users[rows]),
        _cat_affinity(pipe, users, rows, who),
        np.log1p(np.maximum(price, 0)).astype(np.float32),
        _price_ratio(users, price, counts),
        (age / DAY).astype(np.float32),
        (age / per_user([max(now - stats.t_start, DAY) for now in nows])).astype(np.float32),
        ((now_r - stats.last_seen[rows]) / DAY).astype(np.float32),
        *_user_columns(users, counts),
        np.isin(
            keys_of_rows, _user_keys([(p.touched_rows, p.touched_rows) for _, p, _, _, _ in users], span)[0]
        ).astype(np.float32),
        np.isin(keys_of_rows, _user_keys([(p.cart, p.cart) for _, p, _, _, _ in users], span)[0]).astype(np.float32),
        _days_since_bought(users, rows, who, now_r, span),
        stats.consumable[rows].astype(np.float32),
        per_user([s for _, _, _, _, s in users], np.float32),
        np.full(n, 0.0, dtype=np.float32),  # has_query
        keyed([c.ease_map for c, _, _, _, _ in users]),
        np.concatenate([ease_rank_share(*c.ease_map, c.rows) for c, _, _, _, _ in users]),
        keyed([c.ease_recent_map for c, _, _, _, _ in users]),
        np.log1p(stats.recent_users[rows]).astype(np.float32),
        stats.repeat_rate[rows].astype(np.float32),
        _days_since_touched(users, rows, who, now_r, span),
        keyed([c.als_map for c, _, _, _, _ in users], default=np.nan),
        np.concatenate([ease_rank_share(*c.als_map, c.rows) for c, _, _, _, _ in users]),
    ]
    assert len(cols) == len(FEATURE_NAMES)
    # filled column by column into a column-major matrix: the same float32 values as column_stack's,
    # written in order (the ranker reads the rows from it in one conversion)
    xt = np.empty((len(cols), n), dtype=np.float32)
    for j, col in enumerate(cols):
        xt[j] = col
    return xt.T


def _emb_sim(pipe: CandidatePipeline, users: Sequence[FeatureInput], n: int) -> np.ndarray:
    """emb_sim, one matrix-vector product per user: a product over all users' rows at once would
    sum in another order."""
    out = []
    for c, prof, _, _, _ in users:
        if bool(np.any(prof.vector)):
            out.append((pipe.vectors(c.rows) @ prof.vector).astype(np.float32))
        else:
            out.append(np.full(len(c.rows), np.nan, dtype=np.float32))
    return np.concatenate(out) if out else np.zeros(n, dtype=np.float32)


def _city_pop(
    pipe: CandidatePipeline, users: Sequence[FeatureInput], rows_each: Sequence[np.ndarray], n: int
) -> np.ndarray:
    """city_pop_log: each city's sorted popularity looked up once for all its users' rows."""
    stats = pipe.stats
    out = np.full(n, np.nan, dtype=np.float32)
    starts = np.concatenate([[0], np.cumsum([len(r) for r in rows_each])])
    by_city: dict[str, list[int]] = {}
    for u, (_, _, _, city, _) in enumerate(users):
        if city and city in stats.city_top:
            by_city.setdefault(city, []).append(u)
    for city, us in by_city.items():
        cr, cs = stats.city_top[city]
        order = np.argsort(cr)
        idx = np.concatenate([np.arange(starts[u], starts[u + 1]) for u in us])
        q = np.concatenate([rows_each[u] for u in us])
        out[idx] = np.log1p(lookup(cr[order], cs[order], q) / stats.pop_mean)
    return out


def _cat_affinity(
    pipe: CandidatePipeline, users: Sequence[FeatureInput], rows: np.ndarray, who: np.ndarray
) -> np.ndarray:
    """cat_affinity: each user's affinities as a dense row over the categories (0 where none), NaN
    for users without any."""
    codes = pipe.items.cat_codes[rows]
    n_cats = int(max(codes.max() + 1 if len(codes) else 0, 1))
    for _, prof, _, _, _ in users:
        if prof.cat_affinity:
            n_cats = max(n_cats, max(prof.cat_affinity) + 1)
    dense = np.zeros((len(users), n_cats), dtype=np.float64)
    has = np.zeros(len(users), dtype=bool)
    for u, (_, prof, _, _, _) in enumerate(users):
        aff = prof.cat_affinity
        if aff:
            has[u] = True
            dense[u, list(aff)] = list(aff.values())
    vals = dense[who, codes].astype(np.float32)
    return np.where(has[who], vals, np.float32(np.nan))


def _price_ratio(users: Sequence[FeatureInput], price: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """price_ratio_log against each user's median price (its log taken per user, as one user's is)."""
    lmp = [np.log1p(p.median_price) if np.isfinite(p.median_price) else np.nan for _, p, _, _, _ in users]
    ok = np.repeat(np.array([np.isfinite(p.median_price) for _, p, _, _, _ in users]), counts)
    ratio = (np.log1p(np.maximum(price, 0)) - np.repeat(np.array(lmp, dtype=np.float64), counts)).astype(np.float32)
    return np.where(ok, ratio, np.float32(np.nan))


def _user_columns(users: Sequence[FeatureInput], counts: np.ndarray) -> list[np.ndarray]:
    """user_events_log, user_items, user_tenure_days, user_idle_days: one value per user."""
    cols: list[list[float]] = [[], [], [], []]
    for _, p, now, _, _ in users:
        cols[0].append(np.log1p(p.n_events))
        cols[1].append(len(p.touched))
        cols[2].append((now - p.first_t) / DAY if p.has_history else np.nan)
        cols[3].append((now - p.last_event_t) / DAY if p.has_history else np.nan)
    return [np.repeat(np.array(c, dtype=np.float32), counts) for c in cols]


def _days_since_bought(
    users: Sequence[FeatureInput], rows: np.ndarray, who: np.ndarray, now_r: np.ndarray, span: int
) -> np.ndarray:
    """Days since the last purchase of each candidate (NaN: never bought)."""
    keys: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for u, (_, p, _, _, _) in enumerate(users):
        if p.bought_last:
            k = np.fromiter(p.bought_last.keys(), dtype=np.int64, count=len(p.bought_last))
            t = np.fromiter(p.bought_last.values(), dtype=np.float64, count=len(p.bought_last))
            order = np.argsort(k)
            keys.append(k[order] + u * span)
            times.append(t[order])
    out = np.full(len(rows), np.nan, dtype=np.float32)
    if not keys:
        return out
    hit, pos = _find(np.concatenate(keys), rows + who * span)
    out[hit] = ((now_r[hit] - np.concatenate(times)[pos[hit]]) / DAY).astype(np.float32)
    return out


def _days_since_touched(
    users: Sequence[FeatureInput], rows: np.ndarray, who: np.ndarray, now_r: np.ndarray, span: int
) -> np.ndarray:
    """Days since the user last touched each candidate (NaN if never, or no history)."""
    keys = [p.rows + u * span for u, (_, p, _, _, _) in enumerate(users) if p.has_history]
    out = np.full(len(rows), np.nan, dtype=np.float32)
    if not keys:
        return out
    all_keys = np.concatenate(keys)
    last = np.concatenate([p.last_t for _, p, _, _, _ in users if p.has_history])
    order = np.argsort(all_keys, kind="stable")
    hit, pos = _find(all_keys[order], rows + who * span)
    out[hit] = ((now_r[hit] - last[order][pos[hit]]) / DAY).astype(np.float32)
    return out


def _user_keys(maps: Sequence[tuple[np.ndarray, np.ndarray]], span: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's sorted keys as ``user * span + key`` (sorted over all users) and their values."""
    lens = np.array([len(k) for k, _ in maps], dtype=np.int64)
    keys = np.concatenate([k for k, _ in maps]).astype(np.int64) + np.repeat(np.arange(len(maps)) * span, lens)
    return keys, np.concatenate([v for _, v in maps])


def _find(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return sorted_keys[pos] == query, pos
