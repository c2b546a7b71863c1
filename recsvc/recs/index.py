"""FAISS inner-product index over item vectors, keyed by string item ids.

Small catalogs use an exact ``IndexFlatIP``; above ``exact_index_max`` items an HNSW graph is
built and its ``efSearch`` raised until recall@10 against exact search reaches the target on a
sample of user-like queries (means of a few item vectors). The measured recall is kept in
``info`` and saved with the index, so every artifact says how approximate it is.

Faiss labels are positions in an append-only vector store; replacing an item appends a new row
and tombstones the old label (HNSW cannot delete), and searches over-fetch past tombstones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.config import RecsConfig

logger = logging.getLogger(__name__)

INDEX_FORMAT = 1


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidArgument(f"{what} must have {dim} columns, got shape {tuple(arr.shape)}", field=what)
    if not np.isfinite(arr).all():
        raise InvalidArgument(f"{what} holds NaN or infinite values", field=what)
    return np.ascontiguousarray(arr)


def set_search_threads(n: int) -> None:
    """FAISS's OpenMP pool is process-wide; single-query searches are fastest (and do not spin
    against other work) with one thread, so serving sets it once at load."""
    faiss.omp_set_num_threads(max(1, n))


class ItemIndex:
    """Maximum-inner-product search over L2-normalized item vectors (cosine similarity)."""

    def __init__(self, dim: int, *, kind: str = "flat", config: RecsConfig | None = None) -> None:
        if dim <= 0:
            raise InvalidArgument(f"index dimension must be positive, got {dim}", field="dim")
        if kind not in ("flat", "hnsw"):
            raise InvalidArgument(f"unknown index kind {kind!r} (flat, hnsw)", field="kind")
        self.dim = dim
        self.kind = kind
        self.config = config or RecsConfig()
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        self._n = 0  # rows used in _vecs (labels 0.._n-1)
        self._label_ids: list[str] = []
        self._alive = np.zeros(0, dtype=bool)
        self._label_of: dict[str, int] = {}
        self._n_dead_in_index = 0
        self.ef_search = self.config.ef_search_min
        self.info: dict[str, Any] = {}
        self._index = self._new_faiss_index()

    # -- construction -------------------------------------------------------------------------
    def _new_faiss_index(self) -> Any:
        base: Any
        if self.kind == "flat":
            base = faiss.IndexFlatIP(self.dim)
        else:
            base = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = self.config.hnsw_ef_construction
            base.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(base)

    @classmethod
    def build(
        cls,
        item_ids: Sequence[str],
        vectors: np.ndarray,
        *,
        config: RecsConfig | None = None,
        kind: str | None = None,
        progress: bool = False,
    ) -> ItemIndex:
        """Pick the index type by catalog size, add everything, tune and measure recall@10."""
        cfg = config or RecsConfig()
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2:
            raise InvalidArgument(f"vectors must be 2-D, got shape {vecs.shape}", field="vectors")
        chosen = kind or ("flat" if len(item_ids) <= cfg.exact_index_max else "hnsw")
        idx = cls(vecs.shape[1], kind=chosen, config=cfg)
        set_search_threads(os.cpu_count() or 1)  # building uses every core
        t0 = time.perf_counter()
        idx.add(item_ids, vecs, progress=progress)
        idx.info["build_seconds"] = round(time.perf_counter() - t0, 3)
        set_search_threads(cfg.faiss_threads)
        idx.tune(progress=progress)
        return idx

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        if need > self._vecs.shape[0]:
            cap = max(need, int(self._vecs.shape[0] * 1.5) + 16)
            new = np.zeros((cap, self.dim), dtype=np.float32)
            new[: self._n] = self._vecs[: self._n]
            self._vecs = new
            alive = np.zeros(cap, dtype=bool)
            alive[: self._n] = self._alive[: self._n]
            self._alive = alive

    def add(self, item_ids: Sequence[str], vectors: np.ndarray, *, progress: bool = False) -> int:
        """Add or replace items; they are searchable as soon as this returns. Returns how many."""
        ids = [str(i) for i in item_ids]
        vecs = _as_matrix(vectors, self.dim, "vectors")
        if len(ids) != vecs.shape[0]:
            raise InvalidArgument(f"{len(ids)} item ids but {vecs.shape[0]} vectors", field="item_ids")
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InvalidArgument(f"duplicate item_id {dup!r} in one add", field="item_ids")
        if not ids:
            return 0
        replaced = [self._label_of[i] for i in ids if i in self._label_of]
        if replaced:
            self._tombstone(np.asarray(replaced, dtype=np.int64))
        self._grow(len(ids))
        labels = np.arange(self._n, self._n + len(ids), dtype=np.int64)
        self._vecs[self._n : self._n + len(ids)] = vecs
        self._alive[self._n : self._n + len(ids)] = True
        self._n += len(ids)
        self._label_ids.extend(ids)
        for i, lab in zip(ids, labels.tolist(), strict=True):
            self._label_of[i] = lab
        step = 20_000 if self.kind == "hnsw" else len(ids)
        bar = None
        if progress and len(ids) > step:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(ids), desc=f"index {self.kind}", unit="item")
        for s in range(0, len(ids), step):
            self._index.add_with_ids(vecs[s : s + step], labels[s : s + step])
            if bar is not None:
                bar.update(min(step, len(ids) - s))
        if bar is not None:
            bar.close()
        if self.kind == "hnsw" and self._n_dead_in_index > max(1000, self._n // 5):
            self._compact()
        return len(ids)

    def remove(self, item_ids: Sequence[str]) -> int:
        """Make items unsearchable; unknown ids are ignored. Returns how many were removed."""
        labels = [self._label_of.pop(str(i)) for i in item_ids if str(i) in self._label_of]
        if labels:
            self._tombstone(np.asarray(labels, dtype=np.int64))
        return len(labels)

    def _tombstone(self, labels: np.ndarray) -> None:
        self._alive[labels] = False
        if self.kind == "flat":
            self._index.remove_ids(labels)
        else:
            self._n_dead_in_index += len(labels)

    def _compact(self) -> None:
        """Rebuild the HNSW graph from live rows so tombstones stop costing search time."""
        live = np.flatnonzero(self._alive[: self._n])
        ids = [self._label_ids[i] for i in live]
        vecs = self._vecs[live].copy()
        logger.info("compacting %s index: %d live of %d rows", self.kind, len(live), self._n)
        self._vecs = np.zeros((0, self.dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._n = 0
        self._label_ids = []
        self._label_of = {}
        self._n_dead_in_index = 0
        self._index = self._new_faiss_index()
        self._set_ef(self.ef_search)
        self.add(ids, vecs)

    # -- accessors --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._label_of

    @property
    def item_ids(self) -> list[str]:
        """Live item ids in label order."""
        return [self._label_ids[i] for i in np.flatnonzero(self._alive[: self._n])]

    def vector(self, item_id: str) -> np.ndarray:
        lab = self._label_of.get(item_id)
        if lab is None:
            raise InvalidArgument(f"unknown item_id {item_id!r}", field="item_id")
        return self._vecs[lab].copy()

    # -- search ---------------------------------------------------------------------------------
    def _hnsw(self) -> Any:
        return faiss.downcast_index(self._index.index)

    def _set_ef(self, ef: int) -> None:
        self.ef_search = int(ef)
        if self.kind == "hnsw":
            self._hnsw().hnsw.efSearch = self.ef_search

    def _exact(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        live = np.flatnonzero(self._alive[: self._n])
        # with no deleted items a view does: gathering the live rows copies the whole matrix per query
        vecs = self._vecs[: self._n] if len(live) == self._n else self._vecs[live]
        sims = q @ vecs.T
        k = min(k, len(live))
        if k < len(live):
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(len(live)), (q.shape[0], len(live)))
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return live[np.take_along_axis(part, order, axis=1)], np.take_along_axis(top, order, axis=1)

    def search_labels(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` faiss labels (-1 padded) and scores; ``k`` above the catalog means all of it."""
        if len(self._label_of) == 0:
            raise FailedPrecondition("the item index is empty: train a model or upsert items first")
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}", field="k")
        q = _as_matrix(vectors, self.dim, "query")
        n_live = len(self._label_of)
        k_eff = min(k, n_live)
        if k_eff == n_live or (self.kind == "flat" and self._n_dead_in_index == 0 and n_live <= 4096):
            return self._exact(q, k_eff)
        fetch = min(k_eff + self._n_dead_in_index, self._n)
        if self.kind == "hnsw" and fetch > self.ef_search:
            self._hnsw().hnsw.efSearch = fetch
        scores, labels = self._index.search(q, fetch)
        if self.kind == "hnsw" and fetch > self.ef_search:
            self._hnsw().hnsw.efSearch = self.ef_search
        if self._n_dead_in_index:
            ok = labels >= 0
            ok[ok] = self._alive[labels[ok]]
            out_l = np.full((q.shape[0], k_eff), -1, dtype=np.int64)
            out_s = np.full((q.shape[0], k_eff), -np.inf, dtype=np.float32)
            for r in range(q.shape[0]):
                sel = np.flatnonzero(ok[r])[:k_eff]
                out_l[r, : len(sel)] = labels[r, sel]
                out_s[r, : len(sel)] = scores[r, sel]
            return out_l, out_s
        return labels[:, :k_eff], scores[:, :k_eff]

    def search_labels_many(
        self, vectors: Sequence[np.ndarray], ks: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``search_labels(v, k)`` (first row) of each pair: the same labels and scores, with the work
        shared where that keeps every query's answer the same (exact search: one live-row lookup and
        a matrix-vector product per query, as one query alone computes it; HNSW: one faiss call per
        ``k``). Other indexes search one query at a time: faiss's flat index sums differently for
        many queries."""
        n_live = len(self._label_of)
        if n_live == 0 or any(k <= 0 for k in ks):
            return [self._first(self.search_labels(v, k)) for v, k in zip(vectors, ks, strict=True)]
        if self.kind == "flat" and self._n_dead_in_index == 0 and n_live <= 4096:
            live = np.flatnonzero(self._alive[: self._n])
            vecs = self._vecs[: self._n] if len(live) == self._n else self._vecs[live]
            return [
                self._exact_one(_as_matrix(v, self.dim, "query")[0], min(k, n_live), vecs, live)
                for v, k in zip(vectors, ks, strict=True)
            ]
        if self.kind != "hnsw":
            return [self._first(self.search_labels(v, k)) for v, k in zip(vectors, ks, strict=True)]
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))] * len(
            ks
        )
        by_k: dict[int, list[int]] = {}
        for i, k in enumerate(ks):
            by_k.setdefault(k, []).append(i)
        for k, idx in by_k.items():
            labels, scores = self.search_labels(np.stack([np.asarray(vectors[i], dtype=np.float32) for i in idx]), k)
            for j, i in enumerate(idx):
                out[i] = labels[j], scores[j]
        return out

    @staticmethod
    def _first(found: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return found[0][0], found[1][0]

    @staticmethod
    def _exact_one(q: np.ndarray, k: int, vecs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_exact` of one query (``vecs`` and ``live`` as it takes them): a matrix-vector
        product sums each score as a one-row matrix product does, bit for bit."""
        sims = vecs @ q
        part = np.argpartition(-sims, k - 1)[:k] if k < len(live) else np.arange(len(live))
        top = sims[part]
        order = np.argsort(-top, kind="stable")
        return live[part[order]], top[order]

    def search(self, vectors: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """Top-``k`` item ids per query row and their inner-product scores (best first)."""
        labels, scores = self.search_labels(vectors, k)
        ids = [[self._label_ids[lab] for lab in row if lab >= 0] for row in labels.tolist()]
        return ids, scores

    @property
    def n_labels(self) -> int:
        """Labels handed out so far (live and tombstoned)."""
        return self._n

    def labels_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Current label of each id, -1 when unknown."""
        return np.array([self._label_of.get(i, -1) for i in item_ids], dtype=np.int64)

    def vectors_at(self, labels: np.ndarray) -> np.ndarray:
        """Stored vectors for labels (no copy semantics promised)."""
        return self._vecs[labels]

    # -- tuning ---------------------------------------------------------------------------------
    def _sample_queries(self, n: int, seed: int = 0) -> np.ndarray:
        """User-like queries: normalized means of three random live items."""
        rng = np.random.default_rng(seed)
        live = np.flatnonzero(self._alive[: self._n])
        pick = rng.choice(live, size=(n, 3), replace=True)
        q = self._vecs[pick].mean(axis=1)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        return np.ascontiguousarray(q / np.maximum(norms, 1e-12), dtype=np.float32)

    def recall_at(self, queries: np.ndarray, k: int = 10) -> float:
        """Share of the exact top-``k`` that the index returns, averaged over queries."""
        k = min(k, len(self))
        truth, _ = self._exact(queries, k)
        got, _ = self.search_labels(queries, k)
        hits = [len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True)]
        return float(np.mean(hits) / k)

    def tune(self, *, progress: bool = False) -> dict[str, Any]:
        """Raise efSearch until recall@10 reaches the target; store the measurement in ``info``."""
        if len(self) == 0:
            self.info.update(kind=self.kind, n=0, recall_at_10=1.0, ef_search=self.ef_search)
            return self.info
        q = self._sample_queries(min(self.config.recall_sample, max(len(self), 1)), seed=self.config.seed)
        if self.kind == "flat":
            rec = 1.0
        else:
            ef = self.config.ef_search_min
            while True:
                self._set_ef(ef)
                rec = self.recall_at(q, 10)
                logger.debug("hnsw efSearch=%d recall@10=%.4f", ef, rec)
                # a little margin so queries other than the sample also reach the target
                if rec >= min(1.0, self.config.target_recall + 0.02) or ef >= self.config.ef_search_max:
                    break
                ef = min(ef * 2, self.config.ef_search_max)
            if rec < self.config.target_recall:
                logger.warning(
                    "hnsw recall@10 %.3f below target %.2f at efSearch %d", rec, self.config.target_recall, ef
                )
        self.info.update(
            kind=self.kind,
            n=len(self),
            recall_at_10=round(rec, 4),
            ef_search=self.ef_search,
            recall_queries=int(q.shape[0]),
        )
        return self.info

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write ``index.faiss``, ``index_vectors.npy``, ``index_ids.json`` and ``index_meta.json``."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(d / "index.faiss"))
        np.save(d / "index_vectors.npy", self._vecs[: self._n])
        np.save(d / "index_alive.npy", self._alive[: self._n])
        (d / "index_ids.json").write_text(json.dumps(self._label_ids))
        meta = {
            "format": INDEX_FORMAT,
            "dim": self.dim,
            "kind": self.kind,
            "ef_search": self.ef_search,
            "n_dead_in_index": self._n_dead_in_index,
            "info": self.info,
        }
        (d / "index_meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path, *, config: RecsConfig | None = None, dim: int | None = None) -> ItemIndex:
        """Read a saved index; refuse missing files, another format, or a dimension other than ``dim``."""
        d = Path(folder)
        names = ("index.faiss", "index_vectors.npy", "index_alive.npy", "index_ids.json", "index_meta.json")
        for name in names:
            if not (d / name).exists():
                raise FailedPrecondition(f"{d / name}: missing item index file")
        meta = json.loads((d / "index_meta.json").read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise FailedPrecondition(f"{d / 'index_meta.json'}: index format {meta.get('format')} != {INDEX_FORMAT}")
        if dim is not None and int(meta["dim"]) != dim:
            raise FailedPrecondition(f"{d / 'index.faiss'}: index dimension {meta['dim']} != encoder dimension {dim}")
        idx = cls(int(meta["dim"]), kind=str(meta["kind"]), config=config)
        idx._index = faiss.read_index(str(d / "index.faiss"))
        if idx._index.d != idx.dim:
            raise FailedPrecondition(f"{d / 'index.faiss'}: faiss dimension {idx._index.d} != metadata {idx.dim}")
        idx._vecs = np.load(d / "index_vectors.npy")
        idx._alive = np.load(d / "index_alive.npy")
        idx._label_ids = list(json.loads((d / "index_ids.json").read_text()))
        idx._n = len(idx._label_ids)
        if idx._vecs.shape != (idx._n, idx.dim) or idx._alive.shape != (idx._n,):
            raise FailedPrecondition(f"{d}: index files disagree on the number of items")
        idx._label_of = {idx._label_ids[i]: int(i) for i in np.flatnonzero(idx._alive)}
        idx._n_dead_in_index = int(meta.get("n_dead_in_index", 0))
        idx.info = dict(meta.get("info", {}))
        idx._set_ef(int(meta["ef_search"]))
        return idx
