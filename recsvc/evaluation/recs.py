"""Offline evaluation of product recommendations (DATA.md protocol) against standard baselines.

Catalog: the items known before the cut-off, i.e. seen in any event before it or dated before it
by the items table's ``first_seen`` column. An item first seen in the horizon can be neither
recommended nor counted as a hit (``include_new_items`` adds a second, separate report in which
the whole items table is indexed and new items count).

Judged users: an activity (:mod:`recsvc.evaluation.activity`) before the cut-off and, in the
horizon, an activity on a catalog item they never touched before it; relevant = those items;
touched items are never recommended. Every model (ours and the baselines of
:mod:`recsvc.evaluation.recs_baselines`) is trained only on events before the cut-off; knobs are
tuned on a validation split carved from before the cut-off (same protocol, one horizon earlier).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.convert import Dataset
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.evaluation import recs_baselines as rb
from recsvc.evaluation.activity import RULE, activity
from recsvc.evaluation.recs_baselines import K, item_events, popularity_recs
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder
from recsvc.recs.items import ItemTable
from recsvc.recs.serving import RecRequest, RecsModel
from recsvc.recs.training import train_recs

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "K", "catalog_before", "evaluate_recs", "popularity_recs", "protocol", "score_lists"]

METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@10_full")
DEFAULT_RECENT_DAYS = 30


def catalog_before(events: pd.DataFrame, cutoff: pd.Timestamp, first_seen: pd.Series | None = None) -> set[str]:
    """Items known before ``cutoff``: in any event before it, or dated before it by ``first_seen``
    (item_id -> UTC timestamp, from the items table)."""
    ev = events[(events["ts"] < cutoff) & events["item_id"].notna()]
    known = set(ev["item_id"].astype(str))
    if first_seen is not None:
        dated = first_seen.dropna()
        known |= {str(i) for i in dated.index[dated.to_numpy() < cutoff]}
    return known


def protocol(
    events: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, catalog: Collection[str] | None = None
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(touched items per judged user before the cut-off, relevant new catalog items in the horizon).

    ``catalog=None`` lets every item count (the ``include_new_items`` report)."""
    ev = item_events(events)
    end = cutoff + pd.Timedelta(days=horizon_days)
    before = ev[ev["ts"] < cutoff]
    after = ev[(ev["ts"] >= cutoff) & (ev["ts"] < end)]
    if catalog is not None:
        after = after[after["item_id"].isin(catalog)]
    act = activity(events)
    active_before = set(act.loc[act["ts"] < cutoff, "user_id"].astype(str))
    touched = {u: set(g) for u, g in before.groupby("user_id")["item_id"]}
    relevant: dict[str, set[str]] = {}
    for u, g in after.groupby("user_id")["item_id"]:
        if u not in active_before:
            continue
        new = set(g) - touched.get(u, set())
        if new:
            relevant[u] = new
    return {u: touched.get(u, set()) for u in relevant}, relevant


def score_lists(recs: dict[str, list[str]], relevant: dict[str, set[str]]) -> dict[str, float]:
    """Averaged over judged users: Recall@10 as DATA.md defines it (hits / min(|relevant|, 10)),
    the plain Recall@10 (hits / |relevant|) as ``recall@10_full``, and NDCG@10 (binary gains)."""
    if not relevant:
        return {"recall@10": float("nan"), "recall@10_full": float("nan"), "ndcg@10": float("nan")}
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    rec_sum = full_sum = ndcg_sum = 0.0
    for u, rel in relevant.items():
        got = recs.get(u, [])[:K]
        gains = np.array([1.0 if i in rel else 0.0 for i in got])
        n_rel = min(len(rel), K)
        rec_sum += gains.sum() / n_rel
        full_sum += gains.sum() / len(rel)
        ndcg_sum += float((gains * discounts[: len(gains)]).sum() / discounts[:n_rel].sum())
    n = len(relevant)
    return {
        "recall@10": round(float(rec_sum) / n, 4),
        "recall@10_full": round(float(full_sum) / n, 4),
        "ndcg@10": round(float(ndcg_sum) / n, 4),
    }


class _CachedEncoder:
    """Remembers vectors by text, so several cut-offs encode the catalog once.

    A transformer's vector of a text moves in the last bits with the other texts of its batch
    (padding), and on a small log the ranker can turn such a difference into a different top ten.
    :meth:`encode_all` therefore encodes a whole items table in one call before any cut-off: each
    cut-off then reads the same vectors whether it is evaluated alone or after others."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self._memo})
        if todo:
            vecs = self.inner.encode(todo, batch_size=batch_size, progress=progress)
            self._memo.update(zip(todo, vecs, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)

    def encode_all(self, items: pd.DataFrame, *, batch_size: int, progress: bool) -> None:
        """Encode every item of a canonical items table (as training reads it) in one call."""
        table = ItemTable()
        table.upsert(items)
        self.encode(table.texts(np.arange(len(table))), batch_size=batch_size, progress=progress)


def cached(encoder: Encoder) -> _CachedEncoder:
    return encoder if isinstance(encoder, _CachedEncoder) else _CachedEncoder(encoder)


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


def _ours(
    ds: Dataset,
    items: pd.DataFrame,
    cutoff: pd.Timestamp,
    touched: dict[str, set[str]],
    encoder: Encoder,
    config: RecsConfig,
    progress: bool,
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """recsvc's lists, trained before the cut-off with ``items`` indexed, and its training metadata."""
    with tempfile.TemporaryDirectory(prefix="recsvc-eval-") as tmp:
        path = train_recs(
            ds.events[ds.events["ts"] < cutoff],
            items,
            out_dir=Path(tmp),
            encoder=encoder,
            config=config,
            cutoff=cutoff,
            progress=progress,
            users=ds.users,
        )
        model = RecsModel.load(path, encoder)
        recs = _model_recs(model, ds.events, cutoff, touched, progress)
        meta = {
            "ranker_valid_ndcg@10": model.metadata["ranker"].get("valid_ndcg@10", float("nan")),
            "ranker_ease_weight": model.metadata["ranker"].get("ease_weight", 0.0),
            "ranker_boosters": model.metadata["ranker"].get("boosters", 1),
            "index_recall@10": model.metadata["index"].get("recall_at_10", float("nan")),
        }
    return recs, meta


@dataclass(frozen=True)
class _Split:
    """What one cut-off needs: the catalog, the judged users and the training interactions."""

    cutoff: pd.Timestamp
    catalog: set[str]
    touched: dict[str, set[str]]
    relevant: dict[str, set[str]]
    train: rb.Interactions


def _split(events: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, first_seen: pd.Series | None) -> _Split:
    catalog = catalog_before(events, cutoff, first_seen)
    touched, relevant = protocol(events, cutoff, horizon_days, catalog)
    return _Split(cutoff, catalog, touched, relevant, rb.interactions(events, cutoff, catalog=catalog))


def _baselines(
    events: pd.DataFrame,
    split: _Split,
    horizon_days: int,
    users: Sequence[str],
    *,
    recent_days: int,
    first_seen: pd.Series | None,
    seed: int,
    progress: bool,
) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, Any]]]:
    """Each baseline's lists for ``users`` at the split, and how it was tuned."""
    cut = split.cutoff
    touched = {u: split.touched.get(u, set()) for u in users}
    lists: dict[str, dict[str, list[str]]] = {
        "popularity": popularity_recs(events, cut, touched, catalog=split.catalog),
        "popularity_recent": popularity_recs(events, cut, touched, window_days=recent_days, catalog=split.catalog),
    }
    info: dict[str, dict[str, Any]] = {"popularity_recent": {"window_days": recent_days}}
    val = _split(events[events["ts"] < cut], cut - pd.Timedelta(days=horizon_days), horizon_days, first_seen)
    tuned: list[tuple[str, rb.Recommender, dict[str, tuple[Any, ...]]]] = [
        ("als", lambda i, u, p: rb.als_recs(i, u, p, seed), rb.ALS_GRID),
        ("ease", rb.ease_recs, rb.EASE_GRID),
        ("item_knn", rb.knn_recs, rb.KNN_GRID),
    ]
    for name, fn, grid in tuned:
        if name != "als" and not rb.dense_ok(split.train):
            info[name] = {"skipped": f"more than {rb.MAX_DENSE_ITEMS} items"}
            continue
        if val.relevant:
            params, vmetrics = rb.tune(fn, grid, val.train, val.relevant, score_lists, desc=name, progress=progress)
        else:
            params, vmetrics = rb.grid_points(grid)[0], {}
            logger.warning("%s: no validation users before %s; untuned defaults %s", name, cut.date(), params)
        lists[name] = fn(split.train, list(users), params)
        info[name] = {"params": params, "validation": vmetrics}
    return lists, info


def _report(
    ours: dict[str, list[str]],
    lists: dict[str, dict[str, list[str]]],
    info: dict[str, dict[str, Any]],
    relevant: dict[str, set[str]],
) -> dict[str, Any]:
    """Scores of recsvc and of each baseline on ``relevant``, with how each baseline was tuned."""
    base: dict[str, Any] = {
        name: {**score_lists({u: recs.get(u, []) for u in relevant}, relevant), **info.get(name, {})}
        for name, recs in lists.items()
    }
    base.update({name: extra for name, extra in info.items() if name not in lists})  # skipped ones
    return {**score_lists(ours, relevant), "n_users": len(relevant), "baselines": base}


def _checked_cutoff(ds: Dataset, cutoff: pd.Timestamp | str, horizon_days: int, recent_days: int) -> pd.Timestamp:
    """The cut-off in UTC, after refusing a data set without items and non-positive windows."""
    if ds.items is None or len(ds.items) == 0:
        raise FailedPrecondition(f"data set {ds.name!r} has no items table: product recommendations need item text")
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon_days must be positive, got {horizon_days}", field="horizon_days")
    if recent_days <= 0:
        raise InvalidArgument(f"recent_days must be positive, got {recent_days}", field="recent_days")
    cut = pd.Timestamp(cutoff)
    return cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")


def _judged_split(
    ds: Dataset, cut: pd.Timestamp, horizon_days: int, item_first_seen: pd.Series | None
) -> tuple[_Split, pd.DataFrame]:
    """The split at ``cut`` and the items table rows of its catalog; refuses an empty judgement."""
    assert ds.items is not None
    split = _split(ds.events, cut, horizon_days, item_first_seen)
    if not split.relevant:
        raise FailedPrecondition(
            f"no user of {ds.name!r} has a new catalog item within {horizon_days} days after {cut}"
        )
    items = ds.items[ds.items["item_id"].astype(str).isin(split.catalog)]
    if items.empty:
        raise FailedPrecondition(f"no item of the items table is known before the cut-off {cut}")
    return split, items


def check_cutoff(
    ds: Dataset,
    cutoff: pd.Timestamp | str,
    horizon_days: int,
    *,
    recent_days: int = DEFAULT_RECENT_DAYS,
    item_first_seen: pd.Series | None = None,
) -> None:
    """Refuse, before any model is trained, a cut-off :func:`evaluate_recs` could not judge."""
    cut = _checked_cutoff(ds, cutoff, horizon_days, recent_days)
    _judged_split(ds, cut, horizon_days, item_first_seen)


def evaluate_recs(
    ds: Dataset,
    cutoff: pd.Timestamp | str,
    horizon_days: int,
    *,
    encoder: Encoder,
    progress: bool = True,
    config: RecsConfig | None = None,
    recent_days: int = DEFAULT_RECENT_DAYS,
    include_new_items: bool = False,
    item_first_seen: pd.Series | None = None,
    return_lists: bool = False,
) -> dict[str, Any]:
    """Recall@10 / NDCG@10 of the recommender and of the baselines at one cut-off.

    ``return_lists`` adds every model's top-10 per judged user under ``lists`` (for inspection)."""
    cut = _checked_cutoff(ds, cutoff, horizon_days, recent_days)
    assert ds.items is not None  # checked above
    cfg = replace(config or RecsConfig(), label_days=horizon_days).validate()
    enc = cached(encoder)
    enc.encode_all(ds.items, batch_size=cfg.encode_batch_size, progress=progress)
    split, items = _judged_split(ds, cut, horizon_days, item_first_seen)
    full: tuple[dict[str, set[str]], dict[str, set[str]]] | None = None
    users = list(split.relevant)
    if include_new_items:
        full = protocol(ds.events, cut, horizon_days, None)
        users = sorted(set(users) | set(full[1]))
    lists, info = _baselines(
        ds.events, split, horizon_days, users,
        recent_days=recent_days, first_seen=item_first_seen, seed=cfg.seed, progress=progress,
    )  # fmt: skip
    # When every table item is already known, the full-catalog model would be trained on exactly the
    # same input: one model then serves both reports.
    same_index = len(items) == len(ds.items)
    touched = {**full[0], **split.touched} if full is not None and same_index else split.touched
    ours, meta = _ours(ds, items, cut, touched, enc, cfg, progress)
    result: dict[str, Any] = {
        **_report(ours, lists, info, split.relevant),
        **meta,
        "cutoff": cut.isoformat(),
        "horizon_days": horizon_days,
        "activity_rule": RULE,
        "catalog": {
            "rule": "items seen in an event, or dated by the items table, before the cut-off",
            "n_items": len(split.catalog),
            "n_items_indexed": len(items),
            "n_items_table": len(ds.items),
        },
    }
    if return_lists:
        result["lists"] = {"recsvc": {u: ours[u] for u in split.relevant}, **lists}
    if full is not None:
        ours_all, meta_all = (ours, meta) if same_index else _ours(ds, ds.items, cut, full[0], enc, cfg, progress)
        result["with_new_items"] = {**_report(ours_all, lists, info, full[1]), **meta_all}
    logger.info("recs evaluation on %s at %s: %s", ds.name, cut.date(), result)
    return result
