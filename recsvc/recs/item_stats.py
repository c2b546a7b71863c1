"""Item statistics learnt from the event log: popularity, repurchase cycles, co-occurrence.

``build_item_stats`` condenses the log as of one reference time into per-item arrays indexed by
item *row* (position in the model's item table); sources and features read them per request.
``ItemStats`` saves and loads as ``.npy`` arrays and one parquet table, never pickle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsvc.errors import FailedPrecondition
from recsvc.recs.als import AlsItems, AlsParams, fit_items
from recsvc.recs.config import RecsConfig
from recsvc.recs.item_item import empty_dense, fit_ease
from recsvc.recs.unixtime import DAY, decay, unix_seconds


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
    ease_nbr: np.ndarray  # (n_rows, M) int32 rows with the largest EASE weights from each row, -1 padded
    ease_score: np.ndarray  # (n_rows, M) float32
    recent_users: np.ndarray  # distinct users over the last ``recent_days``
    repeat_rate: np.ndarray  # share of the item's users who came back to it on another day
    city_top: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    seg_top: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    hour_top: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    t_start: float = float("nan")  # first event in the log: ages are censored there
    pop_mean: float = 1.0  # mean popularity of items with any, to make scores comparable over time
    trend_mean: float = 1.0
    pop_rank_pct: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    recent_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the whole EASE matrix over the head rows when the head is small (see ``fit_ease``), else empty
    ease_head: np.ndarray = field(default_factory=lambda: empty_dense()[0])
    ease_dense: np.ndarray = field(default_factory=lambda: empty_dense()[1])
    ease_col: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # row -> head column or -1
    # implicit ALS (see ``als.py``): the rows it covers (sorted), their factors, Y'Y over them and
    # (regularization, alpha) of the user step; all empty when ALS was not fitted
    als_head: np.ndarray = field(default_factory=lambda: AlsItems.empty().head)
    als_factors: np.ndarray = field(default_factory=lambda: AlsItems.empty().factors)
    als_yty: np.ndarray = field(default_factory=lambda: AlsItems.empty().yty)
    als_params: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.float64))

    def __post_init__(self) -> None:
        seen = self.first_seen[np.isfinite(self.first_seen)]
        self.t_start = float(seen.min()) if len(seen) else self.t_ref
        self.pop_mean = float(self.pop[self.pop > 0].mean()) if (self.pop > 0).any() else 1.0
        self.trend_mean = float(self.trend[self.trend > 0].mean()) if (self.trend > 0).any() else 1.0
        self.rank_items()
        self.index_ease()

    def index_ease(self) -> None:
        """Map each row to its column of the dense EASE matrix (-1: outside the head)."""
        self.ease_col = np.full(self.n_rows, -1, dtype=np.int64)
        self.ease_col[self.ease_head] = np.arange(len(self.ease_head), dtype=np.int64)

    @property
    def als(self) -> AlsItems:
        return AlsItems(
            self.als_head, self.als_factors, self.als_yty, float(self.als_params[0]), float(self.als_params[1])
        )

    def set_als(self, als: AlsItems) -> None:
        self.als_head, self.als_factors, self.als_yty = als.head, als.factors, als.yty
        self.als_params = np.array([als.regularization, als.alpha], dtype=np.float64)

    @property
    def has_dense_ease(self) -> bool:
        return len(self.ease_head) > 0

    def rank_items(self) -> None:
        """Each row's popularity rank as a share of the catalog (0 = most popular), and the rows
        with the most recent users, best first (the head only)."""
        rank = np.empty(self.n_rows, dtype=np.float32)
        rank[np.argsort(-self.pop, kind="stable")] = np.arange(self.n_rows, dtype=np.float32)
        self.pop_rank_pct = rank / max(self.n_rows, 1)
        head = min(self.n_rows, max(len(self.pop_order), 1))
        order = np.argsort(-self.recent_users, kind="stable")[:head]
        self.recent_order = order[self.recent_users[order] > 0].astype(np.int64)

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
        n_e = self.ease_nbr.shape[1]
        self.ease_nbr = np.concatenate([self.ease_nbr, np.full((n_new, n_e), -1, dtype=np.int32)])
        self.ease_score = np.concatenate([self.ease_score, np.zeros((n_new, n_e), dtype=np.float32)])
        self.recent_users = np.concatenate([self.recent_users, z])
        self.repeat_rate = np.concatenate([self.repeat_rate, z])
        self.rank_items()
        self.index_ease()

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
        "ease_nbr",
        "ease_score",
        "ease_head",
        "ease_dense",
        "als_head",
        "als_factors",
        "als_yty",
        "als_params",
        "recent_users",
        "repeat_rate",
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
    ease_lambda: float | None = None,
    als: AlsParams | None = None,
) -> ItemStats:
    """Popularity (global, recent, per city, per category, per hour), repurchase, co-occurrence
    and, with ``ease_lambda``, EASE neighbours and, with ``als``, ALS item factors.

    ``ev`` comes from :func:`event_rows`; only its events before ``t_ref`` count.
    """
    ev = ev[ev["t"] < t_ref]
    age = t_ref - ev["t"].to_numpy()
    w = ev["w"].to_numpy()
    wp = w * decay(age, config.pop_half_life_days)
    wt = w * decay(age, config.trend_half_life_days)
    stats = _popularity(ev, wp, wt, n_rows, t_ref, config)
    if not len(ev):
        return stats
    _popularity_tops(ev, wp, cat_codes, stats, config, user_city=user_city)
    _repurchase_stats(ev, stats, config)
    _cooccurrence(ev, stats, config, progress=progress)
    _repeat_and_recent(ev, stats, t_ref, config)
    if ease_lambda is not None and config.ease_max_items > 0:
        fit = fit_ease(
            pd.factorize(ev["user_id"])[0],
            ev["row"].to_numpy(),
            n_rows,
            lam=ease_lambda,
            max_items=config.ease_max_items,
            n_neighbours=config.ease_neighbors,
            dense_max=config.ease_dense_max,
        )
        stats.ease_nbr, stats.ease_score, stats.ease_head, stats.ease_dense = fit.nbr, fit.score, fit.head, fit.dense
        stats.index_ease()
    if als is not None:
        user_codes = pd.factorize(ev["user_id"])[0]
        stats.set_als(
            fit_items(user_codes, ev["row"].to_numpy(), als, max_items=config.als_max_items, seed=config.seed)
        )
    stats.rank_items()
    return stats


def _popularity(
    ev: pd.DataFrame, wp: np.ndarray, wt: np.ndarray, n_rows: int, t_ref: float, config: RecsConfig
) -> ItemStats:
    """Global popularity, trend, audience and first/last sighting; the other statistics start empty."""
    rows = ev["row"].to_numpy()
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
    return ItemStats(
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
        ease_nbr=np.full((n_rows, config.ease_neighbors), -1, dtype=np.int32),
        ease_score=np.zeros((n_rows, config.ease_neighbors), dtype=np.float32),
        recent_users=np.zeros(n_rows, dtype=np.float32),
        repeat_rate=np.zeros(n_rows, dtype=np.float32),
    )


def _popularity_tops(
    ev: pd.DataFrame,
    wp: np.ndarray,
    cat_codes: np.ndarray,
    stats: ItemStats,
    config: RecsConfig,
    *,
    user_city: dict[str, str] | None,
) -> None:
    """The most popular rows per city, per category and per local hour of day."""
    rows = ev["row"].to_numpy()
    # per-city popularity: the event's city, else the user's home city when known
    city = pd.Series(ev["city"].to_numpy(), dtype="string").fillna("")
    if user_city:
        home = ev["user_id"].map(user_city).fillna("").to_numpy()
        city = pd.Series(np.where(city.to_numpy() == "", home, city.to_numpy()), dtype="string")
    has_city = (city != "").to_numpy()
    if has_city.any():
        top = _top_by_group(city.to_numpy()[has_city], rows[has_city], wp[has_city], config.pop_top)
        stats.city_top.update({str(k): v for k, v in _pairs_by_key(top)})
    top = _top_by_group(cat_codes[rows], rows, wp, config.pop_top)
    stats.seg_top.update({int(k): v for k, v in _pairs_by_key(top)})
    hours = (((ev["t"].to_numpy() + ev["offset"].to_numpy() * 60.0) // 3600) % 24).astype(np.int64)
    top = _top_by_group(hours, rows, wp, config.pop_top)
    stats.hour_top.update({int(k): v for k, v in _pairs_by_key(top)})


def _pairs_by_key(top: pd.DataFrame) -> list[tuple[Any, tuple[np.ndarray, np.ndarray]]]:
    """(key, (rows, scores)) per key of a :func:`_top_by_group` table, in its order."""
    return [
        (key, (g["row"].to_numpy(np.int64), g["score"].to_numpy(np.float32)))
        for key, g in top.groupby("key", sort=False)
    ]


def _top_by_group(keys: np.ndarray, rows: np.ndarray, scores: np.ndarray, top: int) -> pd.DataFrame:
    """Per key, the ``top`` rows by summed score, best first."""
    df = pd.DataFrame({"key": keys, "row": rows, "score": scores})
    g = df.groupby(["key", "row"], sort=False, observed=True)["score"].sum().reset_index()
    g = g.sort_values(["key", "score"], ascending=[True, False], kind="stable")
    return g.groupby("key", sort=False, observed=True).head(top).reset_index(drop=True)


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


def _repeat_and_recent(ev: pd.DataFrame, stats: ItemStats, t_ref: float, config: RecsConfig) -> None:
    """Distinct users per item over the last ``recent_days``, and the share of an item's users who
    came back to it on another day (re-buys in retail, re-watches in media)."""
    recent = ev[ev["t"] >= t_ref - config.recent_days * DAY][["user_id", "row"]].drop_duplicates()
    stats.recent_users = np.bincount(recent["row"].to_numpy(), minlength=stats.n_rows).astype(np.float32)
    days = pd.DataFrame(
        {"user_id": ev["user_id"].to_numpy(), "row": ev["row"].to_numpy(), "day": np.floor(ev["t"].to_numpy() / DAY)}
    ).drop_duplicates()
    per = days.groupby(["user_id", "row"], sort=False).size()
    back = (per >= 2).groupby(level="row").sum()
    users = per.groupby(level="row").size()
    stats.repeat_rate[users.index.to_numpy()] = (back / users).to_numpy(np.float32)
