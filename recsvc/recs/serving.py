"""Serve the personalized product recommender: load a version and answer ``recommend``.

``RecsModel.recommend`` runs in a few milliseconds: the user's history -> profile -> FAISS
retrieval and the other sources -> features -> LightGBM -> business rules -> reasons. A request
with a query retrieves by the query in any language (:mod:`recsvc.recs.hybrid`), and the query
decides the items. ``upsert_items`` embeds and indexes the words of catalog changes so they can be
recommended and found by a query as soon as it returns.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsvc.artifacts import read_metadata, verify
from recsvc.data.io import normalize_items, with_translations
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.recs.artifact import check_metadata, config_from_metadata, resolve_model_dir
from recsvc.recs.block import Work, rank_block
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder, item_text
from recsvc.recs.history_arrays import history_arrays
from recsvc.recs.hybrid import QueryHits, QueryRetriever, query_led_scores
from recsvc.recs.index import ItemIndex, set_search_threads
from recsvc.recs.item_stats import ItemStats
from recsvc.recs.items import ItemTable
from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.profile import UserProfile
from recsvc.recs.ranker import Ranker
from recsvc.recs.reasons import HistoryNeighbours, Reason, explaining_source, reason
from recsvc.recs.rules import diversify, eligible
from recsvc.recs.sources import SOURCE_INDEX, Candidates
from recsvc.recs.unixtime import local_hour, to_unix
from recsvc.vocabulary import RANKING_TRIGGERS

logger = logging.getLogger(__name__)


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
    policy: str = "model"  # "popular": candidates ranked by popularity, the same rules applied


@dataclass(frozen=True)
class Candidate:
    """A recommended product with the source that found it and a human reason.

    ``title``, ``description`` and ``reason`` are in the catalog's default words; ``why`` is the
    reason in no language yet, for a reader in another locale (``reason`` is ``why.text()``)."""

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
    description: str = ""
    why: Reason | None = None


class RecsModel:
    """A loaded recommender: thread-safe ``recommend`` and ``upsert_items``."""

    def __init__(
        self, path: Path, encoder: Encoder, pipeline: CandidatePipeline, ranker: Ranker, metadata: dict[str, Any]
    ) -> None:
        self.path = path
        self.encoder = encoder
        self._pipeline = pipeline
        self.ranker = ranker
        self.metadata = metadata
        self._retriever = QueryRetriever(pipeline.items, pipeline.config)
        self._lock = threading.RLock()

    @property
    def config(self) -> RecsConfig:
        return self._pipeline.config

    @property
    def n_items(self) -> int:
        return len(self._pipeline.items)

    @classmethod
    def load(cls, path: str | Path, encoder: Encoder, config: RecsConfig | None = None) -> RecsModel:
        """Load a version folder; refuse a missing file, another format or an encoder mismatch."""
        p = resolve_model_dir(Path(path))
        meta = read_metadata(p, "recs")
        enc_dim = int(encoder.dim)
        check_metadata(p, meta, enc_dim)
        cfg = (config or config_from_metadata(meta)).validate()
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
            raise FailedPrecondition(f"{p}: item statistics cover {stats.n_rows} items, items.parquet {len(table)}")
        ranker = Ranker.load(p, bool(meta.get("has_ranker")))
        pipeline = CandidatePipeline(table, index, stats, cfg)
        if (pipeline.row_label < 0).any():
            raise FailedPrecondition(f"{p / 'index_ids.json'}: some items have no vector in the index")
        return cls(p, encoder, pipeline, ranker, meta)

    # -- serving --------------------------------------------------------------------------------
    def recommend(self, req: RecRequest, *, build: int | None = None) -> list[Candidate]:
        """Top ``req.k`` products for one user, each with its source and a reason. ``build``: return
        only the first ``build`` of them. The ranking still runs to depth ``req.k`` (the category
        quota depends on it, so the first ones are the same), but candidates nobody will see cost
        no reason and no object."""
        _check(req)
        query = (req.query_text or "").strip()
        qvec = None
        if query and self._retriever.vector_reads(query):
            qvec = self.encoder.encode([query])[0]
        with self._lock:
            return self._recommend(req, query, qvec, build)

    def _recommend(
        self, req: RecRequest, query: str, qvec: np.ndarray | None, build: int | None = None
    ) -> list[Candidate]:
        work = self._work(req, query, qvec)
        if work is None:
            return []
        return self._chosen(work, self._model_scores(work), build)

    def recommend_many(self, reqs: Sequence[RecRequest], builds: Sequence[int | None]) -> list[list[Candidate]]:
        """``recommend(req, build=b)`` of every pair, the same lists, with the steps that cost per
        call done once for all of them (one nearest-item search pass, one feature pass, one ranker
        call): what batch runs use. Requests with a query take the one-by-one path."""
        for req in reqs:
            _check(req)
        out: list[list[Candidate]] = [[] for _ in reqs]
        block = [i for i, r in enumerate(reqs) if not (r.query_text or "").strip()]
        for i in sorted(set(range(len(reqs))) - set(block)):
            out[i] = self.recommend(reqs[i], build=builds[i])
        with self._lock:
            ranked = rank_block(self._pipeline, self.ranker, [reqs[i] for i in block], self._inputs)
            for i, (work, scores) in zip(block, ranked, strict=True):
                out[i] = [] if work is None else self._chosen(work, scores, builds[i])
        return out

    def _inputs(
        self, req: RecRequest, qvec: np.ndarray | None = None
    ) -> tuple[float, UserProfile, np.ndarray, np.ndarray]:
        """The request's time, profile, excluded and recently pushed rows."""
        items = self._pipeline.items
        rows, types, ts = history_arrays(req.history, items.row_of)
        now = to_unix(req.now)
        prof = self._pipeline.profile(rows, types, ts, now, qvec)
        return now, prof, items.rows_of(req.exclude_item_ids), items.rows_of(req.recently_pushed)

    def _work(self, req: RecRequest, query: str, qvec: np.ndarray | None) -> Work | None:
        """The request's candidates and their features, before the ranker (None: no candidate)."""
        pipe = self._pipeline
        now, prof, excluded, pushed = self._inputs(req, qvec)
        hits = self._retriever.search(query, qvec, pipe.index, pipe.label_row, pipe.vectors) if query else None
        if hits is not None and len(hits.rows) == 0:
            hits = None  # nothing matched: the user's history decides, and no reason claims the query
        cands, x, _ = pipe.candidates_and_features(
            prof,
            now=now,
            hour=local_hour(req.now),
            city=req.city,
            stage=req.stage,
            trigger=req.trigger,
            hard_banned=np.union1d(excluded, pushed),
            query_hits=self._query_source(hits, prof),
        )
        if len(cands.rows) == 0:
            return None
        return Work(req, now, prof, excluded, pushed, cands, x, hits, query)

    def _model_scores(self, work: Work) -> np.ndarray | None:
        """The ranker's scores of the candidates (None for the "popular" policy, which needs none)."""
        return None if work.req.policy == "popular" else self.ranker.score(work.x)

    def _chosen(self, work: Work, model_scores: np.ndarray | None, build: int | None) -> list[Candidate]:
        """The first ``build`` of the top ``req.k`` candidates: the business rules, the order by score
        and the category quota, each with its reason."""
        req, cands, prof, now = work.req, work.cands, work.prof, work.now
        pipe = self._pipeline
        items = pipe.items
        ok = eligible(
            cands.rows,
            in_stock=items.in_stock,
            cities=items.cities,
            city=req.city,
            excluded=work.excluded,
            recently_pushed=work.pushed,
            bought_last=prof.bought_last,
            repurchase_ok=cands.flags[:, SOURCE_INDEX["repurchase"]] | cands.flags[:, SOURCE_INDEX["cart"]],
            now=now,
            no_rebuy_days=self.config.no_rebuy_days,
        )
        hits = work.hits
        scores = self._scores(cands, model_scores, hits, ok, req.trigger, req.policy)
        idx = np.flatnonzero(ok)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        # a query names what it wants: its items are not spread over other categories
        share = 1.0 if hits is not None else self.config.max_category_share
        chosen = diversify(order, items.cat_codes[cands.rows], req.k, share)
        said = work.query if hits is not None else None
        history = HistoryNeighbours(prof, pipe)
        return [self._candidate(cands, int(i), float(scores[i]), history, now, req.city, said) for i in chosen[:build]]

    def _query_source(self, hits: QueryHits | None, prof: UserProfile) -> tuple[np.ndarray, np.ndarray] | None:
        """The query's items as the embedding source's proposal, scored as that source learnt to
        be scored: by similarity to the user's taste vector (0 without one)."""
        if hits is None:
            return None
        taste = self._pipeline.retrieval_vector(prof)
        sims = self._pipeline.vectors(hits.rows) @ taste if taste is not None else np.zeros(len(hits.rows))
        return hits.rows, sims.astype(np.float32)

    def _scores(
        self,
        cands: Candidates,
        model_scores: np.ndarray | None,
        hits: QueryHits | None,
        ok: np.ndarray,
        trigger: str,
        policy: str,
    ) -> np.ndarray:
        """Ranker scores (or popularity, for the "popular" policy), or the query's order when a query
        retrieved items; an idle cart's items go first."""
        if policy == "popular" or model_scores is None:
            scores = self._pipeline.stats.pop[cands.rows].astype(np.float64)
        else:
            scores = model_scores
        if hits is not None:
            cfg = self.config
            scores = query_led_scores(
                cands.rows, scores, ok, hits, depth=cfg.query_rerank_depth, query_weight=cfg.query_rank_weight
            )
        if trigger == "cart_idle":
            scores = scores + 1e3 * cands.flags[:, SOURCE_INDEX["cart"]]
        return scores

    def _candidate(
        self,
        cands: Candidates,
        i: int,
        score: float,
        history: HistoryNeighbours,
        now: float,
        city: str,
        query: str | None,
    ) -> Candidate:
        items = self._pipeline.items
        r = int(cands.rows[i])
        src = explaining_source(cands.flags[i])
        why = reason(src, r, history.profile, self._pipeline, now=now, city=city, query_text=query, history=history)
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
            reason=why.text(),
            description=items.text["description"][r],
            why=why,
        )

    # -- catalog updates ------------------------------------------------------------------------
    def upsert_items(self, items: pd.DataFrame, *, now: datetime | None = None) -> int:
        """Embed and add new or changed items, with their words in every language (localized
        columns or ``attributes``); they can be recommended and found by a query as soon as this
        returns."""
        if items is None or len(items) == 0:
            return 0
        canon = with_translations(normalize_items(items), items)
        vecs = self.encoder.encode(
            [item_text(r) for r in canon.to_dict("records")], batch_size=self.config.encode_batch_size
        )
        t = to_unix(now or datetime.now(UTC))
        with self._lock:
            pipe = self._pipeline
            before = len(pipe.items)
            rows = pipe.items.upsert(canon)
            pipe.stats.extend(len(pipe.items) - before, t)
            pipe.index.add(list(canon["item_id"]), vecs)
            pipe.relabel()
            self._retriever.update(rows)
        logger.info("upserted %d items (%d new)", len(rows), len(pipe.items) - before)
        return len(rows)


def _check(req: RecRequest) -> None:
    if req.k <= 0:
        raise InvalidArgument(f"k must be positive, got {req.k}", field="k")
    if req.trigger not in RANKING_TRIGGERS:
        raise InvalidArgument(
            f"unknown trigger {req.trigger!r} (known: {', '.join(RANKING_TRIGGERS)})", field="trigger"
        )
