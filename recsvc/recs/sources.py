"""Item statistics learnt from the event log, user profiles, and the candidate sources.

Everything here works on integer item *rows* (positions in the model's item table) so that a
request is a handful of numpy operations: the profile of one user, then each source proposes
rows with a score, and the merge keeps, per row, which sources proposed it and their scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsvc.errors import FailedPrecondition
from recsvc.recs.config import RecsConfig

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = (
    "embedding",
    "co_occurrence",
    "popular",
    "popular_city",
    "popular_segment",
    "popular_hour",
    "cart",
    "repurchase",
)
SOURCE_INDEX = {s: i for i, s in enumerate(SOURCES)}
DAY = 86400.0
LN2 = float(np.log(2.0))


def to_unix(ts: datetime | pd.Timestamp) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return float(t.value) / 1e9


def unix_seconds(ts: pd.Series) -> np.ndarray:
    """Unix seconds of a timestamp column (naive values are UTC), whatever its resolution."""
    t = pd.to_datetime(ts, utc=True)
    return np.asarray((t - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), dtype=np.float64)


def local_hour(ts: datetime | pd.Timestamp) -> int:
    """Hour of day on the clock the datetime carries (UTC when naive)."""
    t = pd.Timestamp(ts)
    return int(t.hour)


def decay(age_seconds: np.ndarray, half_life_days: float) -> np.ndarray:
    """Exponential time decay: 1 now, 1/2 after one half-life; future events count as now."""
    age = np.maximum(np.asarray(age_seconds, dtype=np.float64), 0.0) / DAY
    return np.exp(-LN2 * age / half_life_days)


def _top_by_group(keys: np.ndarray, rows: np.ndarray, scores: np.ndarray, top: int) -> pd.DataFrame:
    """Per key, the ``top`` rows by summed score, best first."""
    df = pd.DataFrame({"key": keys, "row": rows, "score": scores})
    g = df.groupby(["key", "row"], sort=False, observed=True)["score"].sum().reset_index()
    g = g.sort_values(["key", "score"], ascending=[True, False], kind="stable")
    return g.groupby("key", sort=False, observed=True).head(top).reset_index(drop=True)


@dataclass
class ItemStats:
    """What the log says about each item row at reference time ``t_ref`` (unix seconds)."""

    t_ref: float
    pop: np.ndarray  # decayed, event-weighted interactions (pop_half_life_days)
    trend: np.ndarray  # same with the short trend half-life
    n_users: np.ndarray  # distinct users who touched the item
    first_seen: np.ndarray  # unix seconds of first event, NaN if none
    last_seen: np.ndarray
    consumable: np.ndarray  # bool: repeat purchase is common for this item
    interval_days: np.ndarray  # median days between repeat purchases (NaN if unknown)
    pop_order: np.ndarray  # rows by pop, best first (the head only)
    cooc_nbr: np.ndarray  # (n_rows, N) int32 neighbour rows, -1 padded
    cooc_score: np.ndarray  # (n_rows, N) float32
    city_top: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    seg_top: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    hour_top: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    t_start: float = float("nan")  # first event in the log: ages are censored there
    pop_mean: float = 1.0  # mean popularity of items with any, to make scores comparable over time
    trend_mean: float = 1.0

    def __post_init__(self) -> None:
        seen = self.first_seen[np.isfinite(self.first_seen)]
        self.t_start = float(seen.min()) if len(seen) else self.t_ref
        self.pop_mean = float(self.pop[self.pop > 0].mean()) if (self.pop > 0).any() else 1.0
        self.trend_mean = float(self.trend[self.trend > 0].mean()) if (self.trend > 0).any() else 1.0

    @property
    def n_rows(self) -> int:
        return int(self.pop.shape[0])

    def extend(self, n_new: int, now: float) -> None:
        """Room for ``n_new`` new items: no events yet, first seen now (upserts)."""
        if n_new <= 0:
            return
        z = np.zeros(n_new, dtype=np.float32)
        nan = np.full(n_new, np.nan)
        self.pop = np.concatenate([self.pop, z])
        self.trend = np.concatenate([self.trend, z])
        self.n_users = np.concatenate([self.n_users, z])
        self.first_seen = np.concatenate([self.first_seen, np.full(n_new, now)])
        self.last_seen = np.concatenate([self.last_seen, nan])
        self.consumable = np.concatenate([self.consumable, np.zeros(n_new, dtype=bool)])
        self.interval_days = np.concatenate([self.interval_days, nan])
        n_nb = self.cooc_nbr.shape[1]
        self.cooc_nbr = np.concatenate([self.cooc_nbr, np.full((n_new, n_nb), -1, dtype=np.int32)])
        self.cooc_score = np.concatenate([self.cooc_score, np.zeros((n_new, n_nb), dtype=np.float32)])

    # -- persistence: .npy arrays and parquet tables, no pickle ----------------------------------
    _ARRAYS = (
        "pop",
        "trend",
        "n_users",
        "first_seen",
        "last_seen",
        "consumable",
        "interval_days",
        "pop_order",
        "cooc_nbr",
        "cooc_score",
    )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in self._ARRAYS:
            np.save(folder / f"stats_{name}.npy", getattr(self, name))
        frames = []
        for kind, table in (("city", self.city_top), ("segment", self.seg_top), ("hour", self.hour_top)):
            for key, (rows, scores) in table.items():
                frames.append(
                    pd.DataFrame(
                        {
                            "kind": kind,
                            "key": str(key),
                            "row": rows.astype(np.int64),
                            "score": scores.astype(np.float32),
                        }
                    )
                )
        tops = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(
                {
                    "kind": pd.Series([], dtype=str),
                    "key": pd.Series([], dtype=str),
                    "row": pd.Series([], dtype=np.int64),
                    "score": pd.Series([], dtype=np.float32),
                }
            )
        )
        tops.to_parquet(folder / "popularity_top.parquet", index=False)

    @classmethod
    def load(cls, folder: Path, t_ref: float) -> ItemStats:
        arrays = {}
        for name in cls._ARRAYS:
            p = folder / f"stats_{name}.npy"
            if not p.exists():
                raise FailedPrecondition(f"{p}: missing model file")
            arrays[name] = np.load(p, allow_pickle=False)
        p = folder / "popularity_top.parquet"
        if not p.exists():
            raise FailedPrecondition(f"{p}: missing model file")
        tops = pd.read_parquet(p)
        stats = cls(t_ref=t_ref, **arrays)
        for (kind, key), g in tops.groupby(["kind", "key"], sort=False):
            pair = (g["row"].to_numpy(np.int64), g["score"].to_numpy(np.float32))
            if kind == "city":
                stats.city_top[str(key)] = pair
            elif kind == "segment":
                stats.seg_top[int(key)] = pair
            else:
                stats.hour_top[int(key)] = pair
        return stats


def event_rows(events: pd.DataFrame, row_of: dict[str, int], config: RecsConfig) -> pd.DataFrame:
    """Events that concern a known item, with the item row, the taste weight and unix seconds."""
    ev = events[events["item_id"].notna()]
    weights = config.weights()
    w = ev["event_type"].map(weights).fillna(0.0).to_numpy(np.float64)
    rows = ev["item_id"].astype(str).map(row_of)
    keep = rows.notna().to_numpy() & (w > 0)
    out = pd.DataFrame(
        {
            "user_id": ev["user_id"].to_numpy()[keep],
            "row": rows.to_numpy()[keep].astype(np.int64),
            "w": w[keep],
            "event_type": ev["event_type"].to_numpy()[keep],
            "t": unix_seconds(ev["ts"])[keep],
            "offset": ev["ts_offset_min"].fillna(0).to_numpy()[keep].astype(np.int64),
            "city": ev["city"].astype("string").fillna("").to_numpy()[keep] if "city" in ev else "",
        }
    )
    return out


def build_item_stats(
    ev: pd.DataFrame,
    n_rows: int,
    cat_codes: np.ndarray,
    t_ref: float,
    config: RecsConfig,
    *,
    user_city: dict[str, str] | None = None,
    progress: bool = False,
) -> ItemStats:
    """Popularity (global, recent, per city, per category, per hour), repurchase and co-occurrence.

    ``ev`` comes from :func:`event_rows` and holds only events before ``t_ref``.
    """
    ev = ev[ev["t"] < t_ref]
    age = t_ref - ev["t"].to_numpy()
    w = ev["w"].to_numpy()
    rows = ev["row"].to_numpy()
    wp = w * decay(age, config.pop_half_life_days)
    wt = w * decay(age, config.trend_half_life_days)
    pop = np.bincount(rows, weights=wp, minlength=n_rows).astype(np.float32)
    trend = np.bincount(rows, weights=wt, minlength=n_rows).astype(np.float32)
    pairs = ev[["user_id", "row"]].drop_duplicates()
    n_users = np.bincount(pairs["row"].to_numpy(), minlength=n_rows).astype(np.float32)
    first_seen = np.full(n_rows, np.nan)
    last_seen = np.full(n_rows, np.nan)
    if len(ev):
        g = ev.groupby("row")["t"]
        mn, mx = g.min(), g.max()
        first_seen[mn.index.to_numpy()] = mn.to_numpy()
        last_seen[mx.index.to_numpy()] = mx.to_numpy()
    head = min(n_rows, max(config.pop_top * 5, 1000))
    pop_order = np.argsort(-pop, kind="stable")[:head].astype(np.int64)

    stats = ItemStats(
        t_ref=t_ref,
        pop=pop,
        trend=trend,
        n_users=n_users,
        first_seen=first_seen,
        last_seen=last_seen,
        consumable=np.zeros(n_rows, dtype=bool),
        interval_days=np.full(n_rows, np.nan),
        pop_order=pop_order,
        cooc_nbr=np.full((n_rows, config.cooc_neighbors), -1, dtype=np.int32),
        cooc_score=np.zeros((n_rows, config.cooc_neighbors), dtype=np.float32),
    )
    if not len(ev):
        return stats
    # per-city popularity: the event's city, else the user's home city when known
    city = pd.Series(ev["city"].to_numpy(), dtype="string").fillna("")
    if user_city:
        home = ev["user_id"].map(user_city).fillna("").to_numpy()
        city = pd.Series(np.where(city.to_numpy() == "", home, city.to_numpy()), dtype="string")
    has_city = (city != "").to_numpy()
    if has_city.any():
        top = _top_by_group(city.to_numpy()[has_city], rows[has_city], wp[has_city], config.pop_top)
        for key, g in top.groupby("key", sort=False):
            stats.city_top[str(key)] = (g["row"].to_numpy(np.int64), g["score"].to_numpy(np.float32))
    cats = cat_codes[rows]
    top = _top_by_group(cats, rows, wp, config.pop_top)
    for key, g in top.groupby("key", sort=False):
        stats.seg_top[int(key)] = (g["row"].to_numpy(np.int64), g["score"].to_numpy(np.float32))
    hours = (((ev["t"].to_numpy() + ev["offset"].to_numpy() * 60.0) // 3600) % 24).astype(np.int64)
    top = _top_by_group(hours, rows, wp, config.pop_top)
    for key, g in top.groupby("key", sort=False):
        stats.hour_top[int(key)] = (g["row"].to_numpy(np.int64), g["score"].to_numpy(np.float32))
    _repurchase_stats(ev, stats, config)
    _cooccurrence(ev, stats, config, progress=progress)
    return stats


def _repurchase_stats(ev: pd.DataFrame, stats: ItemStats, config: RecsConfig) -> None:
    """Consumable = enough buyers and a high share buying again on another day."""
    buys = ev[ev["event_type"] == "purchase"]
    if buys.empty:
        return
    days = pd.DataFrame(
        {
            "user_id": buys["user_id"].to_numpy(),
            "row": buys["row"].to_numpy(),
            "day": np.floor(buys["t"].to_numpy() / DAY),
        }
    ).drop_duplicates()
    days = days.sort_values(["user_id", "row", "day"], kind="stable")
    per = days.groupby(["user_id", "row"], sort=False).size()
    buyers = per.groupby(level="row").size()
    repeaters = (per >= 2).groupby(level="row").sum()
    rate = (repeaters / buyers).reindex(buyers.index).fillna(0.0)
    gap = days.groupby(["user_id", "row"], sort=False)["day"].diff().dropna()
    gap_rows = days.loc[gap.index, "row"]
    med = gap.groupby(gap_rows.to_numpy()).median()
    ok = (buyers >= config.consumable_min_buyers) & (rate >= config.consumable_min_rate)
    stats.consumable[ok[ok].index.to_numpy()] = True
    stats.interval_days[med.index.to_numpy().astype(np.int64)] = med.to_numpy()


def _cooccurrence(ev: pd.DataFrame, stats: ItemStats, config: RecsConfig, *, progress: bool) -> None:
    """Top-N neighbours by cosine of co-occurrence in users' recent histories."""
    last = ev.groupby(["user_id", "row"], sort=False)["t"].max().reset_index()
    last = last.sort_values(["user_id", "t"], ascending=[True, False], kind="stable")
    last = last.groupby("user_id", sort=False).head(config.cooc_history)
    users = pd.factorize(last["user_id"])[0]
    n = stats.n_rows
    x = sp.csr_matrix(
        (np.ones(len(last), dtype=np.float32), (users, last["row"].to_numpy())),
        shape=(int(users.max()) + 1 if len(users) else 0, n),
    )
    c = (x.T @ x).tocsr()
    deg = np.asarray(c.diagonal(), dtype=np.float64)
    c.setdiag(0)
    c.eliminate_zeros()
    coo = c.tocoo()
    vals = coo.data / np.sqrt(np.maximum(deg[coo.row] * deg[coo.col], 1.0))
    # shrink rare pairs: one shared user is weak evidence
    vals = vals * (coo.data / (coo.data + 2.0))
    c = sp.csr_matrix((vals.astype(np.float32), (coo.row, coo.col)), shape=(n, n))
    nb = config.cooc_neighbors
    indptr, indices, data = c.indptr, c.indices, c.data
    it: Iterable[int] = range(n)
    if progress and n > 20_000:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="co-occurrence top-N", unit="item")
    for r in it:
        a, b = indptr[r], indptr[r + 1]
        if a == b:
            continue
        d, idx = data[a:b], indices[a:b]
        if b - a > nb:
            sel = np.argpartition(-d, nb - 1)[:nb]
            d, idx = d[sel], idx[sel]
        order = np.argsort(-d, kind="stable")
        stats.cooc_nbr[r, : len(order)] = idx[order]
        stats.cooc_score[r, : len(order)] = d[order]


@dataclass
class UserProfile:
    """One user's history condensed into what sources and features need."""

    rows: np.ndarray  # distinct item rows touched, most recent first
    weights: np.ndarray  # decayed taste weight per row
    last_t: np.ndarray  # last event time per row
    vector: np.ndarray  # (dim,) unit taste vector (zeros when no history)
    query_vector: np.ndarray | None
    cat_affinity: dict[int, float]
    median_price: float
    n_events: int
    first_t: float
    last_event_t: float
    cart: np.ndarray  # rows in the cart (added, not bought or removed since)
    bought_last: dict[int, float]  # row -> last purchase time
    touched: frozenset[int]

    @property
    def has_history(self) -> bool:
        return len(self.rows) > 0


def build_profile(
    rows: np.ndarray,
    types: Sequence[str],
    ts: np.ndarray,
    now: float,
    *,
    item_vectors: np.ndarray,
    cat_codes: np.ndarray,
    prices: np.ndarray,
    config: RecsConfig,
    query_vector: np.ndarray | None = None,
) -> UserProfile:
    """Condense a history (item rows, event types, unix times, already restricted to known items).

    ``item_vectors`` holds the vectors of ``rows`` in the same order.
    """
    weights_map = config.weights()
    dim = item_vectors.shape[1] if item_vectors.ndim == 2 else 0
    past = ts <= now + 1.0
    rows, ts, item_vectors = rows[past], ts[past], item_vectors[past]
    types = [t for t, p in zip(types, past.tolist(), strict=True) if p]
    n = len(rows)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return UserProfile(
            empty,
            np.zeros(0),
            np.zeros(0),
            np.zeros(dim, dtype=np.float32),
            query_vector,
            {},
            float("nan"),
            0,
            float("nan"),
            float("nan"),
            empty,
            {},
            frozenset(),
        )
    tw = np.array([weights_map.get(t, 0.0) for t in types], dtype=np.float64)
    w = tw * decay(now - ts, config.half_life_days)
    # cart: the latest cart-related event per item decides
    cart: dict[int, bool] = {}
    bought: dict[int, float] = {}
    order = np.argsort(ts, kind="stable")
    for i in order.tolist():
        t = types[i]
        r = int(rows[i])
        if t == "add_to_cart":
            cart[r] = True
        elif t in ("purchase", "remove_from_cart"):
            cart[r] = False
            if t == "purchase":
                bought[r] = float(ts[i])
    uniq, inv = np.unique(rows, return_inverse=True)
    wsum = np.bincount(inv, weights=w, minlength=len(uniq))
    tlast = np.full(len(uniq), -np.inf)
    np.maximum.at(tlast, inv, ts)
    rec = np.argsort(-tlast, kind="stable")[: config.history_max]
    vec_sum = np.zeros(dim, dtype=np.float64)
    if dim:
        vec_sum = (w[:, None] * item_vectors).sum(axis=0)
        if not np.any(vec_sum):  # all weights zero (e.g. only pushes): plain mean still says something
            vec_sum = item_vectors.mean(axis=0)
    norm = float(np.linalg.norm(vec_sum))
    vector = (vec_sum / norm).astype(np.float32) if norm > 0 else np.zeros(dim, dtype=np.float32)
    cats = cat_codes[uniq]
    cw = np.bincount(cats, weights=wsum + 1e-9)
    total = float(cw.sum())
    affinity = {int(c): float(cw[c] / total) for c in np.flatnonzero(cw)} if total > 0 else {}
    p = prices[uniq]
    p = p[np.isfinite(p)]
    return UserProfile(
        rows=uniq[rec].astype(np.int64),
        weights=wsum[rec],
        last_t=tlast[rec],
        vector=vector,
        query_vector=query_vector,
        cat_affinity=affinity,
        median_price=float(np.median(p)) if len(p) else float("nan"),
        n_events=n,
        first_t=float(ts.min()),
        last_event_t=float(ts.max()),
        cart=np.array([r for r, v in cart.items() if v], dtype=np.int64),
        bought_last=bought,
        touched=frozenset(int(r) for r in uniq.tolist()),
    )


@dataclass
class Candidates:
    """Merged candidate rows with per-source flags and scores (columns follow ``SOURCES``)."""

    rows: np.ndarray
    flags: np.ndarray  # (n, n_sources) bool
    scores: np.ndarray  # (n, n_sources) float32
    cooc_map: tuple[np.ndarray, np.ndarray]  # (sorted rows, summed co-occurrence score) for features
    cooc_max: tuple[np.ndarray, np.ndarray]


def _take_top(
    rows: np.ndarray, scores: np.ndarray, k: int, banned: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if k <= 0 or len(rows) == 0:
        return rows[:0], scores[:0]
    if len(banned):
        ok = ~np.isin(rows, banned)
        rows, scores = rows[ok], scores[ok]
    if len(rows) > k:
        sel = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[sel], scores[sel]
    return rows, scores


def cooc_scores(profile: UserProfile, stats: ItemStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summed (by the user's taste weights) and max co-occurrence score of each neighbour row."""
    if not profile.has_history:
        z = np.zeros(0, dtype=np.int64)
        return z, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
    src = profile.rows
    w = profile.weights / max(float(profile.weights.max()), 1e-12)
    nbr = stats.cooc_nbr[src].ravel()
    sc = (stats.cooc_score[src] * w[:, None].astype(np.float32)).ravel()
    ok = nbr >= 0
    nbr, sc = nbr[ok], sc[ok]
    if not len(nbr):
        z = np.zeros(0, dtype=np.int64)
        return z, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
    uniq, inv = np.unique(nbr, return_inverse=True)
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
) -> Candidates:
    """Run every source and merge. ``banned`` rows (exclusions, touched items) are skipped by the
    discovery sources; cart and repurchase only skip ``hard_banned`` (explicit exclusions)."""
    if hard_banned is None:
        hard_banned = banned
    parts: list[tuple[int, np.ndarray, np.ndarray]] = []
    k_extra = 0
    if embedding_hits is not None:
        r, s = embedding_hits
        parts.append((SOURCE_INDEX["embedding"], *_take_top(r, s, config.k_embedding, banned)))
    c_rows, c_sum, c_max = cooc_scores(profile, stats)
    parts.append((SOURCE_INDEX["co_occurrence"], *_take_top(c_rows, c_sum, config.k_cooc, banned)))
    head = stats.pop_order[: config.k_popular + len(banned) + k_extra]
    parts.append((SOURCE_INDEX["popular"], *_take_top(head, stats.pop[head], config.k_popular, banned)))
    if city and city in stats.city_top:
        r, s = stats.city_top[city]
        parts.append((SOURCE_INDEX["popular_city"], *_take_top(r, s, config.k_city, banned)))
    if profile.cat_affinity:
        fav = max(profile.cat_affinity.items(), key=lambda kv: kv[1])[0]
        if fav in stats.seg_top:
            r, s = stats.seg_top[fav]
            parts.append((SOURCE_INDEX["popular_segment"], *_take_top(r, s, config.k_segment, banned)))
    if hour in stats.hour_top:
        r, s = stats.hour_top[hour]
        parts.append((SOURCE_INDEX["popular_hour"], *_take_top(r, s, config.k_hour, banned)))
    if len(profile.cart):
        cart = profile.cart
        score = np.ones(len(cart), dtype=np.float32) * (2.0 if trigger == "cart_idle" else 1.0)
        parts.append((SOURCE_INDEX["cart"], *_take_top(cart, score, len(cart), hard_banned)))
    if profile.bought_last:
        b_rows = np.fromiter(profile.bought_last.keys(), dtype=np.int64)
        b_t = np.fromiter(profile.bought_last.values(), dtype=np.float64)
        interval = stats.interval_days[b_rows]
        due = (now - b_t) / DAY / np.where(np.isfinite(interval) & (interval > 0), interval, np.inf)
        ok = stats.consumable[b_rows] & (due >= 0.8)
        parts.append(
            (
                SOURCE_INDEX["repurchase"],
                *_take_top(b_rows[ok], due[ok].astype(np.float32), config.k_cooc, hard_banned),
            )
        )
    all_rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(all_rows.astype(np.int64), return_inverse=True)
    flags = np.zeros((len(uniq), len(SOURCES)), dtype=bool)
    scores = np.zeros((len(uniq), len(SOURCES)), dtype=np.float32)
    pos = 0
    for src, r, s in parts:
        idx = inv[pos : pos + len(r)]
        flags[idx, src] = True
        scores[idx, src] = s
        pos += len(r)
    return Candidates(uniq, flags, scores, (c_rows, c_sum), (c_rows, c_max))


def lookup(
    sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float = 0.0
) -> np.ndarray:
    """Vectorised dict lookup on a sorted key array."""
    out = np.full(len(query), default, dtype=np.float32)
    if len(sorted_keys) == 0 or len(query) == 0:
        return out
    pos = np.searchsorted(sorted_keys, query)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    hit = sorted_keys[pos] == query
    out[hit] = values[pos[hit]]
    return out


def now_unix(now: datetime | None) -> float:
    return to_unix(now if now is not None else datetime.now(UTC))
