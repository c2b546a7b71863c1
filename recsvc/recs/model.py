"""Train, save, load and serve the personalized product recommender.

``train_recs`` learns item statistics and a LambdaRank ranker from the event log and writes a
versioned artifact; ``RecsModel`` loads it and answers ``recommend`` in a few milliseconds:
profile -> FAISS retrieval and the other sources -> features -> LightGBM -> business rules.
The ranker is trained on a time split: statistics as of ``end - label_days``, labels = what
each user touched in the following ``label_days``, so it learns to predict the future.
"""

from __future__ import annotations

import logging
import math
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsvc.artifacts import read_metadata, verify, write_metadata
from recsvc.data.io import normalize_items
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder, item_text, l2_normalize
from recsvc.recs.index import ItemIndex, set_search_threads
from recsvc.recs.ranker import FEATURE_NAMES, Ranker, build_features, train_lambdarank
from recsvc.recs.rules import diversify, eligible, parse_cities
from recsvc.recs.sources import (
    DAY,
    SOURCE_INDEX,
    SOURCES,
    ItemStats,
    UserProfile,
    build_item_stats,
    build_profile,
    event_rows,
    generate,
    local_hour,
    to_unix,
    unix_seconds,
)
from recsvc.vocabulary import RANKING_TRIGGERS

logger = logging.getLogger(__name__)

MODEL_FORMAT = 1
MODEL_NAME = "recs"
# which source explains a candidate when several proposed it
_REASON_PRIORITY = (
    "cart",
    "repurchase",
    "co_occurrence",
    "embedding",
    "popular_city",
    "popular_segment",
    "popular_hour",
    "popular",
)
_GRADE = {"purchase": 3, "add_to_cart": 2}
_VERB = {"purchase": "bought", "add_to_cart": "added to your cart"}

HistoryLike = pd.DataFrame | Sequence[tuple[str, str, datetime | pd.Timestamp | float]]


@dataclass(frozen=True)
class RecRequest:
    """One recommendation call. ``history`` is this user's events: a frame with ``item_id``,
    ``event_type``, ``ts`` columns or a list of ``(item_id, event_type, ts)``."""

    user_id: str
    history: Any = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    city: str = ""
    stage: int = 0
    trigger: str = "scheduled"
    query_text: str | None = None
    k: int = 10
    exclude_item_ids: frozenset[str] = frozenset()
    recently_pushed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    """A recommended product with the source that found it and a human reason."""

    item_id: str
    title: str
    price: float
    currency: str
    category: str
    image_url: str
    video_url: str
    audio_url: str
    score: float
    source: str
    reason: str


class ItemTable:
    """Item attributes as flat lists/arrays indexed by row, for cheap per-request access."""

    TEXT = (
        "title",
        "description",
        "category",
        "currency",
        "image_url",
        "video_url",
        "audio_url",
        "cities",
        "tags",
    )

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.text: dict[str, list[str]] = {c: [] for c in self.TEXT}
        self.price = np.zeros(0, dtype=np.float64)
        self.in_stock = np.zeros(0, dtype=bool)
        self.cities: list[frozenset[str]] = []
        self.cat_codes = np.zeros(0, dtype=np.int64)
        self.categories: list[str] = []
        self._cat_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _code(self, cat: str) -> int:
        key = cat.strip().lower()
        if key not in self._cat_of:
            self._cat_of[key] = len(self.categories)
            self.categories.append(cat.strip())
        return self._cat_of[key]

    def upsert(self, items: pd.DataFrame) -> np.ndarray:
        """Add or overwrite rows from a canonical items frame; returns their rows."""
        rows = np.empty(len(items), dtype=np.int64)
        new_price, new_stock, new_codes = [], [], []
        for i, rec in enumerate(items.to_dict("records")):
            iid = str(rec["item_id"])
            vals = {
                c: "" if rec.get(c) is None or pd.isna(rec.get(c)) else str(rec.get(c)) for c in self.TEXT
            }
            price = (
                float(rec["price"]) if rec.get("price") is not None and pd.notna(rec.get("price")) else np.nan
            )
            stock = bool(rec.get("in_stock", True)) if pd.notna(rec.get("in_stock", True)) else True
            code = self._code(vals["category"])
            r = self.row_of.get(iid)
            if r is None:
                r = len(self.ids)
                self.ids.append(iid)
                self.row_of[iid] = r
                for c in self.TEXT:
                    self.text[c].append(vals[c])
                self.cities.append(parse_cities(vals["cities"]))
                new_price.append(price)
                new_stock.append(stock)
                new_codes.append(code)
            else:
                for c in self.TEXT:
                    self.text[c][r] = vals[c]
                self.cities[r] = parse_cities(vals["cities"])
                self.price[r], self.in_stock[r], self.cat_codes[r] = price, stock, code
            rows[i] = r
        if new_price:
            self.price = np.concatenate([self.price, np.array(new_price, dtype=np.float64)])
            self.in_stock = np.concatenate([self.in_stock, np.array(new_stock, dtype=bool)])
            self.cat_codes = np.concatenate([self.cat_codes, np.array(new_codes, dtype=np.int64)])
        return rows

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"item_id": self.ids, **{c: self.text[c] for c in self.TEXT}})
        df["price"] = self.price
        df["in_stock"] = self.in_stock
        return df

    def texts(self, rows: np.ndarray) -> list[str]:
        return [
            item_text({c: self.text[c][r] for c in ("title", "category", "description", "tags")})
            for r in rows.tolist()
        ]


def _library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "pandas", "lightgbm", "faiss-cpu", "sentence-transformers", "torch", "pyarrow"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def _history_arrays(history: Any, row_of: dict[str, int]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rows, event types, unix seconds) of the history events on known items."""
    if history is None:
        return np.zeros(0, dtype=np.int64), [], np.zeros(0)
    if isinstance(history, pd.DataFrame):
        if history.empty:
            return np.zeros(0, dtype=np.int64), [], np.zeros(0)
        for col in ("item_id", "event_type", "ts"):
            if col not in history.columns:
                raise InvalidArgument(f"history is missing column {col!r}", field="history")
        h = history[history["item_id"].notna()]
        rows_s = h["item_id"].astype(str).map(row_of)
        keep = rows_s.notna().to_numpy()
        ts = unix_seconds(h["ts"])[keep]
        return (
            rows_s.to_numpy()[keep].astype(np.int64),
            h["event_type"].astype(str).to_numpy()[keep].tolist(),
            np.asarray(ts, dtype=np.float64),
        )
    rows: list[int] = []
    types: list[str] = []
    tss: list[float] = []
    for entry in history:
        if len(entry) != 3:
            raise InvalidArgument("history entries must be (item_id, event_type, ts)", field="history")
        iid, et, t = entry
        r = row_of.get(str(iid)) if iid is not None else None
        if r is None:
            continue
        rows.append(r)
        types.append(str(et))
        tss.append(float(t) if isinstance(t, int | float) else to_unix(t))
    return np.array(rows, dtype=np.int64), types, np.array(tss, dtype=np.float64)


class _Core:
    """Shared state and per-user machinery used by both training and serving."""

    def __init__(self, items: ItemTable, index: ItemIndex, stats: ItemStats, config: RecsConfig) -> None:
        self.items = items
        self.index = index
        self.stats = stats
        self.config = config
        self.row_label = index.labels_of(items.ids)
        self.label_row = np.full(index.n_labels, -1, dtype=np.int64)
        ok = self.row_label >= 0
        self.label_row[self.row_label[ok]] = np.flatnonzero(ok)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.index.vectors_at(self.row_label[rows])

    def profile(
        self, rows: np.ndarray, types: list[str], ts: np.ndarray, now: float, query_vector: np.ndarray | None
    ) -> UserProfile:
        return build_profile(
            rows,
            types,
            ts,
            now,
            item_vectors=self.vectors(rows),
            cat_codes=self.items.cat_codes,
            prices=self.items.price,
            config=self.config,
            query_vector=query_vector,
        )

    def retrieval_vector(self, profile: UserProfile) -> np.ndarray | None:
        q = profile.query_vector
        has = bool(np.any(profile.vector))
        if q is None:
            return profile.vector if has else None
        if not has:
            return q
        w = self.config.query_weight
        return l2_normalize((1.0 - w) * profile.vector + w * q)

    def embedding_hits(self, vec: np.ndarray | None, n_banned: int) -> tuple[np.ndarray, np.ndarray] | None:
        if vec is None or self.config.k_embedding == 0 or len(self.index) == 0:
            return None
        labels, scores = self.index.search_labels(vec, self.config.k_embedding + n_banned)
        labels, scores = labels[0], scores[0]
        ok = labels >= 0
        rows = self.label_row[labels[ok]]
        good = rows >= 0
        return rows[good], scores[ok][good]

    def candidates_and_features(
        self,
        profile: UserProfile,
        *,
        now: float,
        hour: int,
        city: str,
        stage: int,
        trigger: str,
        banned: np.ndarray,
        vec_hits: tuple[np.ndarray, np.ndarray] | None,
        hard_banned: np.ndarray | None = None,
    ) -> tuple[Any, np.ndarray]:
        cands = generate(
            profile,
            self.stats,
            config=self.config,
            embedding_hits=vec_hits,
            city=city,
            hour=hour,
            now=now,
            banned=banned,
            hard_banned=hard_banned,
            trigger=trigger,
        )
        x = build_features(
            cands,
            profile,
            self.stats,
            cand_vectors=self.vectors(cands.rows),
            cat_codes=self.items.cat_codes,
            prices=self.items.price,
            city=city,
            now=now,
            stage=stage,
        )
        return cands, x


def _pct(x: np.ndarray) -> np.ndarray:
    """Percentile ranks in [0, 1] (ties broken by order), to mix scores of different scales."""
    if len(x) < 2:
        return np.ones(len(x))
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r / (len(x) - 1)


def _new_version(out_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / stamp
    n = 1
    while path.exists() or path.with_name(path.name + ".tmp").exists():
        path = out_dir / f"{stamp}-{n}"
        n += 1
    return path


def _touched_ban(prof: UserProfile, config: RecsConfig) -> np.ndarray:
    """Touched rows that sources must skip (cart and due consumables come back through their sources)."""
    if config.rediscover_touched or not prof.touched:
        return np.zeros(0, dtype=np.int64)
    return np.fromiter(prof.touched, dtype=np.int64, count=len(prof.touched))


def _training_set(
    core: _Core, ev: pd.DataFrame, t_split: float, t_end: float, config: RecsConfig, *, progress: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Candidates and graded labels for users active before ``t_split`` with events in the window."""
    hist = ev[ev["t"] < t_split]
    fut = ev[(ev["t"] >= t_split) & (ev["t"] < t_end)]
    grade = fut["event_type"].map(_GRADE).fillna(1).astype(np.int64)
    labels = (
        pd.DataFrame(
            {"user_id": fut["user_id"].to_numpy(), "row": fut["row"].to_numpy(), "g": grade.to_numpy()}
        )
        .groupby(["user_id", "row"])["g"]
        .max()
    )
    users = np.intersect1d(hist["user_id"].unique(), labels.index.get_level_values(0).unique())
    rng = np.random.default_rng(config.seed)
    if len(users) > config.max_train_users:
        users = np.sort(rng.choice(users, config.max_train_users, replace=False))
    info: dict[str, Any] = {
        "split": pd.Timestamp(t_split, unit="s", tz="UTC").isoformat(),
        "users": len(users),
    }
    empty = (np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros(0), np.zeros(0, np.int64), info)
    if len(users) == 0:
        return empty
    hist = hist[hist["user_id"].isin(users)]
    by_user = {u: g for u, g in hist.groupby("user_id", sort=False)}
    lab_by_user = {u: g for u, g in labels[labels.index.get_level_values(0).isin(users)].groupby(level=0)}
    hour = int((t_split // 3600) % 24)
    xs, ys, groups = [], [], []
    recall_hits = 0
    recall_total = 0
    it: Any = users
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(users, desc="ranker training set", unit="user")
    for u in it:
        h = by_user[u]
        prof = core.profile(h["row"].to_numpy(), h["event_type"].tolist(), h["t"].to_numpy(), t_split, None)
        city_vals = h["city"].to_numpy()
        city = next((str(c) for c in city_vals[::-1] if c), "")
        banned = _touched_ban(prof, config)
        hits = core.embedding_hits(core.retrieval_vector(prof), len(banned))
        cands, x = core.candidates_and_features(
            prof,
            now=t_split,
            hour=hour,
            city=city,
            stage=0,
            trigger="scheduled",
            banned=banned,
            vec_hits=hits,
            hard_banned=np.zeros(0, dtype=np.int64),
        )
        lab = lab_by_user[u]
        lab_rows = lab.index.get_level_values(1).to_numpy()
        lab_vals = lab.to_numpy()
        if len(banned):
            keep = ~np.isin(lab_rows, banned) | np.isin(lab_rows, cands.rows)
            lab_rows, lab_vals = lab_rows[keep], lab_vals[keep]
        y = np.zeros(len(cands.rows), dtype=np.int64)
        pos = np.isin(cands.rows, lab_rows)
        if pos.any():
            s = pd.Series(lab_vals, index=lab_rows)
            y[pos] = s.loc[cands.rows[pos]].to_numpy()
        recall_hits += int(pos.sum())
        recall_total += len(lab_rows)
        if not pos.any() or pos.all():
            continue
        xs.append(x)
        ys.append(y)
        groups.append(len(y))
    info["candidate_recall"] = round(recall_hits / max(recall_total, 1), 4)
    info["groups"] = len(groups)
    if not xs:
        return empty
    return np.vstack(xs), np.concatenate(ys), np.array(groups, dtype=np.int64), info


def train_recs(
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    out_dir: Path,
    encoder: Encoder,
    config: RecsConfig | None = None,
    cutoff: pd.Timestamp | None = None,
    progress: bool = True,
    users: pd.DataFrame | None = None,
) -> Path:
    """Train on events before ``cutoff`` (all when None) and write ``out_dir/<version>/``."""
    cfg = (config or RecsConfig()).validate()
    if items is None or len(items) == 0:
        raise FailedPrecondition(
            "training product recommendations needs an items table with at least one item"
        )
    started = time.perf_counter()
    items = normalize_items(items)
    ev_all = events
    if cutoff is not None:
        cut = pd.Timestamp(cutoff)
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
        ev_all = events[events["ts"] < cut]
        t_end = to_unix(cut)
    else:
        t_end = to_unix(events["ts"].max()) + 1.0 if len(events) else time.time()
    table = ItemTable()
    table.upsert(items)
    logger.info("encoding %d items with %s", len(table), encoder.name)
    vecs = encoder.encode(
        table.texts(np.arange(len(table))), batch_size=cfg.encode_batch_size, progress=progress
    )
    if vecs.shape != (len(table), encoder.dim):
        raise FailedPrecondition(
            f"encoder {encoder.name} returned shape {vecs.shape}, expected ({len(table)}, {encoder.dim})"
        )
    index = ItemIndex.build(table.ids, vecs, config=cfg, progress=progress)
    ev = event_rows(ev_all, table.row_of, cfg)
    user_city: dict[str, str] = {}
    if users is not None and "city" in users.columns:
        uc = users[users["city"].astype("string").fillna("") != ""]
        user_city = dict(zip(uc["user_id"].astype(str), uc["city"].astype(str), strict=True))
    xs, ys, gs, infos, win = [], [], [], [], []
    step = max(1.0, cfg.label_days / 2) * DAY
    for w in range(cfg.train_windows):
        w_end = t_end - w * step
        w_split = w_end - cfg.label_days * DAY
        if len(ev) == 0 or w_split <= float(ev["t"].min()):
            break
        stats_w = build_item_stats(ev, len(table), table.cat_codes, w_split, cfg, user_city=user_city)
        core = _Core(table, index, stats_w, cfg)
        x, y, g, info = _training_set(core, ev, w_split, w_end, cfg, progress=progress)
        xs.append(x)
        ys.append(y)
        gs.append(g)
        win.append(np.full(len(g), w))
        infos.append(info)
    if xs:
        x_all, y_all, g_all = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
    else:
        x_all = np.zeros((0, len(FEATURE_NAMES)), np.float32)
        y_all, g_all = np.zeros(0), np.zeros(0, np.int64)
    # validate on the newest window (closest to serving) when older windows remain to train on
    valid = None
    if len(gs) >= 2 and len(gs[0]) >= 20:
        valid = np.concatenate(win) == 0
    ranker = train_lambdarank(x_all, y_all.astype(np.float64), g_all, cfg, valid_groups=valid)
    ranker.metrics["training_windows"] = infos
    stats = build_item_stats(
        ev, len(table), table.cat_codes, t_end, cfg, user_city=user_city, progress=progress
    )

    out_dir = Path(out_dir)
    final = _new_version(out_dir)
    tmp = final.with_name(final.name + ".tmp")
    tmp.mkdir(parents=True)
    np.save(tmp / "embeddings.npy", vecs)
    index.save(tmp)
    table.to_frame().to_parquet(tmp / "items.parquet", index=False)
    stats.save(tmp)
    ranker.save(tmp)
    meta = {
        "format": MODEL_FORMAT,
        "name": MODEL_NAME,
        "version": final.name,
        "created_at": datetime.now(UTC).isoformat(),
        "encoder": {"name": encoder.name, "dim": int(encoder.dim)},
        "index": index.info,
        "feature_names": list(FEATURE_NAMES),
        "sources": list(SOURCES),
        "training_window": {
            "start": pd.Timestamp(ev["t"].min(), unit="s", tz="UTC").isoformat() if len(ev) else None,
            "end": pd.Timestamp(t_end, unit="s", tz="UTC").isoformat(),
            "label_days": cfg.label_days,
        },
        "t_ref": t_end,
        "n_items": len(table),
        "n_events": len(ev),
        "ranker": ranker.metrics,
        "has_ranker": ranker.booster is not None,
        "config": asdict(cfg),
        "libraries": _library_versions(),
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    write_metadata(tmp, meta, indent=2, default=str)  # last: checksums of every file above
    tmp.rename(final)
    logger.info(
        "wrote recs model %s (%d items, ranker %s)", final, len(table), ranker.metrics.get("valid_ndcg@10")
    )
    return final


def _config_from(meta: dict[str, Any]) -> RecsConfig:
    saved = meta.get("config", {})
    known = {f.name for f in fields(RecsConfig)}
    kw = {k: v for k, v in saved.items() if k in known}
    if "ranker_grid" in kw:
        kw["ranker_grid"] = tuple((int(a), int(b)) for a, b in kw["ranker_grid"])
    if "event_weights" in kw:
        kw["event_weights"] = tuple((str(a), float(b)) for a, b in kw["event_weights"])
    return RecsConfig(**kw)


def resolve_model_dir(path: Path) -> Path:
    """A version folder, or a parent whose newest version folder is taken."""
    if (path / "metadata.json").exists():
        return path
    versions = sorted(
        p for p in path.glob("*") if (p / "metadata.json").exists() and not p.name.endswith(".tmp")
    )
    if not versions:
        raise FailedPrecondition(f"{path / 'metadata.json'}: no recs model here (missing metadata.json)")
    return versions[-1]


class RecsModel:
    """A loaded recommender: thread-safe ``recommend`` and ``upsert_items``."""

    def __init__(
        self, path: Path, encoder: Encoder, core: _Core, ranker: Ranker, metadata: dict[str, Any]
    ) -> None:
        self.path = path
        self.encoder = encoder
        self._core = core
        self.ranker = ranker
        self.metadata = metadata
        self._lock = threading.RLock()

    @property
    def config(self) -> RecsConfig:
        return self._core.config

    @property
    def n_items(self) -> int:
        return len(self._core.items)

    @classmethod
    def load(cls, path: str | Path, encoder: Encoder, config: RecsConfig | None = None) -> RecsModel:
        """Load a version folder; refuse a missing file, another format or an encoder mismatch."""
        p = resolve_model_dir(Path(path))
        mpath = p / "metadata.json"
        meta = read_metadata(p, "recs")
        if meta.get("format") != MODEL_FORMAT or meta.get("name") != MODEL_NAME:
            raise FailedPrecondition(
                f"{mpath}: not a recs model of format {MODEL_FORMAT} "
                f"(name={meta.get('name')!r}, format={meta.get('format')!r})"
            )
        if list(meta.get("feature_names", [])) != list(FEATURE_NAMES):
            raise FailedPrecondition(f"{mpath}: ranker feature names differ from this version of recsvc")
        enc_dim = int(encoder.dim)
        if int(meta["encoder"]["dim"]) != enc_dim:
            raise FailedPrecondition(
                f"{p / 'index.faiss'}: model was built with a {meta['encoder']['dim']}-d encoder "
                f"({meta['encoder']['name']}), the given encoder has {enc_dim} dimensions"
            )
        cfg = (config or _config_from(meta)).validate()
        for name in ("items.parquet", "embeddings.npy"):
            if not (p / name).exists():
                raise FailedPrecondition(f"{p / name}: missing model file")
        verify(p, meta)  # before FAISS, LightGBM, Arrow or numpy read a byte (a damaged file can crash them)
        index = ItemIndex.load(p, config=cfg, dim=enc_dim)
        set_search_threads(cfg.faiss_threads)
        table = ItemTable()
        table.upsert(pd.read_parquet(p / "items.parquet"))
        stats = ItemStats.load(p, float(meta["t_ref"]))
        if stats.n_rows != len(table):
            raise FailedPrecondition(
                f"{p}: item statistics cover {stats.n_rows} items, items.parquet {len(table)}"
            )
        ranker = Ranker.load(p, bool(meta.get("has_ranker")))
        core = _Core(table, index, stats, cfg)
        if (core.row_label < 0).any():
            raise FailedPrecondition(f"{p / 'index_ids.json'}: some items have no vector in the index")
        return cls(p, encoder, core, ranker, meta)

    # -- serving --------------------------------------------------------------------------------
    def recommend(self, req: RecRequest) -> list[Candidate]:
        """Top ``req.k`` products for one user, each with its source and a reason."""
        if req.k <= 0:
            raise InvalidArgument(f"k must be positive, got {req.k}", field="k")
        if req.trigger not in RANKING_TRIGGERS:
            raise InvalidArgument(
                f"unknown trigger {req.trigger!r} (known: {', '.join(RANKING_TRIGGERS)})", field="trigger"
            )
        qvec = None
        if req.query_text and req.query_text.strip():
            qvec = self.encoder.encode([req.query_text.strip()])[0]
        with self._lock:
            return self._recommend(req, qvec)

    def _recommend(self, req: RecRequest, qvec: np.ndarray | None) -> list[Candidate]:
        core = self._core
        items = core.items
        now = to_unix(req.now)
        hour = local_hour(req.now)
        rows, types, ts = _history_arrays(req.history, items.row_of)
        prof = core.profile(rows, types, ts, now, qvec)
        excluded = np.array(
            [items.row_of[i] for i in req.exclude_item_ids if i in items.row_of], dtype=np.int64
        )
        pushed = np.array([items.row_of[i] for i in req.recently_pushed if i in items.row_of], dtype=np.int64)
        hard = np.union1d(excluded, pushed)
        banned = np.union1d(hard, _touched_ban(prof, self.config))
        hits = core.embedding_hits(core.retrieval_vector(prof), len(banned))
        cands, x = core.candidates_and_features(
            prof,
            now=now,
            hour=hour,
            city=req.city,
            stage=req.stage,
            trigger=req.trigger,
            banned=banned,
            vec_hits=hits,
            hard_banned=hard,
        )
        if len(cands.rows) == 0:
            return []
        scores = self.ranker.score(x)
        if qvec is not None:
            # the ranker never sees queries in training: let the request's words lead the order
            # (ranker by percentile, query similarity min-max scaled so a clear match stands out)
            w = self.config.query_rank_weight
            qsim = self._core.vectors(cands.rows) @ qvec
            span = float(qsim.max() - qsim.min()) if len(qsim) else 0.0
            qnorm = (qsim - qsim.min()) / span if span > 0 else np.zeros(len(qsim))
            scores = (1.0 - w) * _pct(scores) + w * qnorm
        if req.trigger == "cart_idle":
            scores = scores + 1e3 * cands.flags[:, SOURCE_INDEX["cart"]]
        ok = eligible(
            cands.rows,
            in_stock=items.in_stock,
            cities=items.cities,
            city=req.city,
            excluded=excluded,
            recently_pushed=pushed,
            bought_last=prof.bought_last,
            repurchase_ok=cands.flags[:, SOURCE_INDEX["repurchase"]] | cands.flags[:, SOURCE_INDEX["cart"]],
            now=now,
            no_rebuy_days=self.config.no_rebuy_days,
        )
        idx = np.flatnonzero(ok)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        chosen = diversify(order, items.cat_codes[cands.rows], req.k, self.config.max_category_share)
        return [self._candidate(cands, int(i), float(scores[i]), prof, req) for i in chosen]

    def _candidate(self, cands: Any, i: int, score: float, prof: UserProfile, req: RecRequest) -> Candidate:
        items = self._core.items
        r = int(cands.rows[i])
        src = next(s for s in _REASON_PRIORITY if cands.flags[i, SOURCE_INDEX[s]])
        reason = self._reason(src, r, prof, req)
        price = float(items.price[r])
        return Candidate(
            item_id=items.ids[r],
            title=items.text["title"][r],
            price=price if math.isfinite(price) else 0.0,
            currency=items.text["currency"][r],
            category=items.text["category"][r],
            image_url=items.text["image_url"][r],
            video_url=items.text["video_url"][r],
            audio_url=items.text["audio_url"][r],
            score=score,
            source=src,
            reason=reason,
        )

    def _reason(self, src: str, r: int, prof: UserProfile, req: RecRequest) -> str:
        core = self._core
        items = core.items
        if src == "cart":
            return "in your cart"
        if src == "repurchase":
            days = int((to_unix(req.now) - prof.bought_last.get(r, to_unix(req.now))) / DAY)
            return f"time to restock: you bought it {days} days ago"
        if src in ("co_occurrence", "embedding") and prof.has_history:
            if src == "co_occurrence":
                has = (core.stats.cooc_nbr[prof.rows] == r).any(axis=1)
                anchor = int(prof.rows[np.argmax(has)]) if has.any() else int(prof.rows[0])
                return f"often chosen together with {items.text['title'][anchor]}"
            sims = core.vectors(prof.rows) @ core.vectors(np.array([r]))[0]
            anchor = int(prof.rows[int(np.argmax(sims))])
            verb = "bought" if anchor in prof.bought_last else "viewed"
            if req.query_text and prof.query_vector is not None:
                return f"matches “{req.query_text.strip()}”"
            return f"because you {verb} {items.text['title'][anchor]}"
        if src == "embedding" and req.query_text:
            return f"matches “{req.query_text.strip()}”"
        if src == "embedding":
            return "similar to what you like"
        if src == "popular_city":
            return f"popular in {req.city} this week"
        if src == "popular_segment":
            return f"popular in {items.text['category'][r] or 'your favourite category'}"
        if src == "popular_hour":
            return "popular at this time of day"
        return "popular right now"

    # -- catalog updates ------------------------------------------------------------------------
    def upsert_items(self, items: pd.DataFrame, *, now: datetime | None = None) -> int:
        """Embed and add new or changed items; they can be recommended as soon as this returns."""
        if items is None or len(items) == 0:
            return 0
        canon = normalize_items(items)
        vecs = self.encoder.encode(
            [item_text(r) for r in canon.to_dict("records")], batch_size=self.config.encode_batch_size
        )
        t = to_unix(now or datetime.now(UTC))
        with self._lock:
            core = self._core
            before = len(core.items)
            rows = core.items.upsert(canon)
            core.stats.extend(len(core.items) - before, t)
            core.index.add(list(canon["item_id"]), vecs)
            core.row_label = core.index.labels_of(core.items.ids)
            core.label_row = np.full(core.index.n_labels, -1, dtype=np.int64)
            core.label_row[core.row_label] = np.arange(len(core.items))
        logger.info("upserted %d items (%d new)", len(rows), len(core.items) - before)
        return len(rows)
