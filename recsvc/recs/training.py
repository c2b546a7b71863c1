"""Train the personalized product recommender and write a versioned artifact.

``train_recs`` embeds the catalog, builds the FAISS index, learns item statistics and a
LambdaRank ranker from the event log, and writes ``models/recs/<version>/`` (see ``artifact.py``).
The ranker is trained on time splits: statistics as of ``end - label_days``, labels = what each
user touched in the following ``label_days``, so it learns to predict the future.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsvc.artifacts import free_version_path, write_metadata
from recsvc.data.io import normalize_items, with_translations
from recsvc.errors import FailedPrecondition
from recsvc.recs.als import AlsParams
from recsvc.recs.artifact import MODEL_FORMAT, MODEL_NAME, library_versions
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder
from recsvc.recs.index import ItemIndex
from recsvc.recs.item_stats import ItemStats, build_item_stats, event_rows
from recsvc.recs.items import ItemTable
from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.ranker import FEATURE_NAMES, Ranker, train_lambdarank
from recsvc.recs.sources import SOURCES
from recsvc.recs.tuning import tune_als, tune_ease_lambda
from recsvc.recs.unixtime import DAY, to_unix

logger = logging.getLogger(__name__)

# label grade of an item the user touched in the label window (other events: 1)
_GRADE = {"purchase": 3, "add_to_cart": 2}

# one ranking group per user: features, graded labels, group sizes, and what the window found
TrainingSet = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


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
        raise FailedPrecondition("training product recommendations needs an items table with at least one item")
    started = time.perf_counter()
    items = with_translations(normalize_items(items), items)  # a query in any language matches them
    ev_all, t_end = _events_before(events, cutoff)
    table, vecs = _encode_catalog(items, encoder, cfg, progress=progress)
    index = ItemIndex.build(table.ids, vecs, config=cfg, progress=progress)
    ev = event_rows(ev_all, table.row_of, cfg)
    user_city = _home_cities(users)
    ease_lambda, ease_tried = tune_ease_lambda(ev, t_end, cfg)
    als, als_tried = tune_als(ev, t_end, cfg)
    ranker = _train_ranker(
        ev, table, index, t_end, cfg, user_city=user_city, progress=progress, ease_lambda=ease_lambda, als=als
    )
    ranker.metrics["ease"] = {"lambda": ease_lambda, "validation_ndcg@10": ease_tried}
    ranker.metrics["als"] = {**als.as_dict(), "validation_ndcg@10": als_tried}
    stats = build_item_stats(
        ev, len(table), table.cat_codes, t_end, cfg, user_city=user_city, progress=progress, ease_lambda=ease_lambda,
        als=als,
    )  # fmt: skip

    final = free_version_path(Path(out_dir))
    tmp = final.with_name(final.name + ".tmp")
    _save_files(tmp, table, vecs, index, stats, ranker)
    meta = _metadata(final.name, encoder, index, ranker, ev, t_end, len(table), cfg, started)
    write_metadata(tmp, meta, indent=2, default=str)  # last: checksums of every file above
    tmp.rename(final)
    logger.info("wrote recs model %s (%d items, ranker %s)", final, len(table), ranker.metrics.get("valid_ndcg@10"))
    return final


def _metadata(
    version: str,
    encoder: Encoder,
    index: ItemIndex,
    ranker: Ranker,
    ev: pd.DataFrame,
    t_end: float,
    n_items: int,
    cfg: RecsConfig,
    started: float,
) -> dict[str, Any]:
    """What ``metadata.json`` says about a version besides its files' checksums."""
    return {
        "format": MODEL_FORMAT,
        "name": MODEL_NAME,
        "version": version,
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
        "n_items": n_items,
        "n_events": len(ev),
        "ranker": ranker.metrics,
        "has_ranker": ranker.booster is not None,
        "config": asdict(cfg),
        "libraries": library_versions(),
        "train_seconds": round(time.perf_counter() - started, 2),
    }


def _events_before(events: pd.DataFrame, cutoff: pd.Timestamp | None) -> tuple[pd.DataFrame, float]:
    """The events to learn from and the training end (unix seconds): the cutoff, else just past the log."""
    if cutoff is None:
        t_end = to_unix(events["ts"].max()) + 1.0 if len(events) else time.time()
        return events, t_end
    cut = pd.Timestamp(cutoff)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
    return events[events["ts"] < cut], to_unix(cut)


def _encode_catalog(
    items: pd.DataFrame, encoder: Encoder, cfg: RecsConfig, *, progress: bool
) -> tuple[ItemTable, np.ndarray]:
    """The item table of a canonical items frame and one vector per row."""
    table = ItemTable()
    table.upsert(items)
    logger.info("encoding %d items with %s", len(table), encoder.name)
    vecs = encoder.encode(table.texts(np.arange(len(table))), batch_size=cfg.encode_batch_size, progress=progress)
    if vecs.shape != (len(table), encoder.dim):
        raise FailedPrecondition(
            f"encoder {encoder.name} returned shape {vecs.shape}, expected ({len(table)}, {encoder.dim})"
        )
    return table, vecs


def _home_cities(users: pd.DataFrame | None) -> dict[str, str]:
    """user_id -> city of the users table, for events that carry no city."""
    if users is None or "city" not in users.columns:
        return {}
    uc = users[users["city"].astype("string").fillna("") != ""]
    return dict(zip(uc["user_id"].astype(str), uc["city"].astype(str), strict=True))


def _train_ranker(
    ev: pd.DataFrame,
    table: ItemTable,
    index: ItemIndex,
    t_end: float,
    cfg: RecsConfig,
    *,
    user_city: dict[str, str],
    progress: bool,
    ease_lambda: float,
    als: AlsParams,
) -> Ranker:
    """LambdaRank on ``cfg.train_windows`` label windows ending at ``t_end`` and stepping back by
    half a window, each with statistics as of its own split; ``cfg.small_log_extra_windows`` more
    when the windows the held-out fits may train on hold fewer than
    ``cfg.ranker_average_below_groups`` groups."""
    xs, ys, gs, infos, win = [], [], [], [], []
    step = max(1.0, cfg.label_days / 2) * DAY

    def overlaps_newest(w: int) -> bool:
        return w > 0 and w * step < cfg.label_days * DAY

    n_windows, w = cfg.train_windows, 0
    while w < n_windows:
        w_end = t_end - w * step
        w_split = w_end - cfg.label_days * DAY
        if len(ev) == 0 or w_split <= float(ev["t"].min()):
            break
        stats_w = build_item_stats(
            ev, len(table), table.cat_codes, w_split, cfg, user_city=user_city, ease_lambda=ease_lambda, als=als
        )
        pipeline = CandidatePipeline(table, index, stats_w, cfg)
        x, y, g, info = _training_set(pipeline, ev, w_split, w_end, cfg, progress=progress)
        xs.append(x)
        ys.append(y)
        gs.append(g)
        win.append(np.full(len(g), w))
        infos.append(info)
        w += 1
        if w == cfg.train_windows >= 2:
            held_out_fit_groups = sum(len(gs[k]) for k in range(1, w) if not overlaps_newest(k))
            if held_out_fit_groups < cfg.ranker_average_below_groups:
                n_windows += cfg.small_log_extra_windows
    if xs:
        x_all, y_all, g_all = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
    else:
        x_all = np.zeros((0, len(FEATURE_NAMES)), np.float32)
        y_all, g_all = np.zeros(0), np.zeros(0, np.int64)
    # Validate on the newest window (closest to serving), judged by boosters trained only on windows
    # whose labels end by its split: windows step back by half a window, so the next one's labels
    # cover half of the newest one's, and a booster trained on them is judged on events it was
    # taught (on the demo app that inflated its held-out NDCG@10 by 0.04, and hid that EASE's
    # order was as good after the cut-off). The final booster still trains on every window.
    valid = purged = None
    if len(gs) >= 2 and len(gs[0]) >= 20:
        window = np.concatenate(win)
        valid = window == 0
        purged = (window > 0) & (window * step < cfg.label_days * DAY)
    ranker = train_lambdarank(x_all, y_all.astype(np.float64), g_all, cfg, valid_groups=valid, purged_groups=purged)
    ranker.metrics["training_windows"] = infos
    return ranker


def _training_set(
    pipeline: CandidatePipeline,
    ev: pd.DataFrame,
    t_split: float,
    t_end: float,
    config: RecsConfig,
    *,
    progress: bool,
) -> TrainingSet:
    """Candidates and graded labels for users active before ``t_split`` with events in the window."""
    hist = ev[ev["t"] < t_split]
    labels = _window_labels(ev[(ev["t"] >= t_split) & (ev["t"] < t_end)])
    users = _sample_users(hist, labels, config)
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
        x, y, found, n_labels = _user_group(pipeline, by_user[u], lab_by_user[u], t_split, hour)
        recall_hits += found
        recall_total += n_labels
        if found == 0 or found == len(y):  # all candidates positive or none: no pair to order
            continue
        xs.append(x)
        ys.append(y)
        groups.append(len(y))
    info["candidate_recall"] = round(recall_hits / max(recall_total, 1), 4)
    info["groups"] = len(groups)
    if not xs:
        return empty
    return np.vstack(xs), np.concatenate(ys), np.array(groups, dtype=np.int64), info


def _window_labels(fut: pd.DataFrame) -> pd.Series:
    """Best grade per (user_id, row) among the label window's events."""
    grade = fut["event_type"].map(_GRADE).fillna(1).astype(np.int64)
    return (
        pd.DataFrame({"user_id": fut["user_id"].to_numpy(), "row": fut["row"].to_numpy(), "g": grade.to_numpy()})
        .groupby(["user_id", "row"])["g"]
        .max()
    )


def _sample_users(hist: pd.DataFrame, labels: pd.Series, config: RecsConfig) -> np.ndarray:
    """Users with history and labels, a seeded sample of ``max_train_users`` when there are more."""
    users = np.intersect1d(hist["user_id"].unique(), labels.index.get_level_values(0).unique())
    rng = np.random.default_rng(config.seed)
    if len(users) > config.max_train_users:
        users = np.sort(rng.choice(users, config.max_train_users, replace=False))
    return users


def _user_group(
    pipeline: CandidatePipeline, h: pd.DataFrame, lab: pd.Series, t_split: float, hour: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """One user's candidate features and graded labels as of ``t_split``, how many labelled items
    the candidates found, and how many labelled items the sources could have found."""
    prof = pipeline.profile(h["row"].to_numpy(), h["event_type"].tolist(), h["t"].to_numpy(), t_split, None)
    city_vals = h["city"].to_numpy()
    city = next((str(c) for c in city_vals[::-1] if c), "")
    cands, x, banned = pipeline.candidates_and_features(
        prof,
        now=t_split,
        hour=hour,
        city=city,
        stage=0,
        trigger="scheduled",
        hard_banned=np.zeros(0, dtype=np.int64),
    )
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
    return x, y, int(pos.sum()), len(lab_rows)


def _save_files(
    folder: Path, table: ItemTable, vecs: np.ndarray, index: ItemIndex, stats: ItemStats, ranker: Ranker
) -> None:
    """Every data file of a version (metadata.json, with their checksums, comes after)."""
    folder.mkdir(parents=True)
    np.save(folder / "embeddings.npy", vecs)
    index.save(folder)
    table.to_frame().to_parquet(folder / "items.parquet", index=False)
    stats.save(folder)
    ranker.save(folder)
