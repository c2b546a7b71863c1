"""The per-user path shared by training and serving: history -> profile -> candidates -> features.

Training builds the ranker's examples and serving answers requests through this one class, so
the ranker always sees features made the way they were made when it learnt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsvc.recs.config import RecsConfig
from recsvc.recs.index import ItemIndex
from recsvc.recs.item_stats import ItemStats
from recsvc.recs.items import ItemTable
from recsvc.recs.profile import UserProfile, build_profile
from recsvc.recs.ranker import build_features
from recsvc.recs.sources import Candidates, generate


class CandidatePipeline:
    """Items, their vectors and statistics, and the steps from one user's history to features."""

    def __init__(self, items: ItemTable, index: ItemIndex, stats: ItemStats, config: RecsConfig) -> None:
        self.items = items
        self.index = index
        self.stats = stats
        self.config = config
        self.relabel()

    def relabel(self) -> None:
        """Map item rows to index labels and back (after the index or the table changed)."""
        self.row_label = self.index.labels_of(self.items.ids)
        self.label_row = np.full(self.index.n_labels, -1, dtype=np.int64)
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
        """The taste vector; None for a user without one (a query retrieves through
        :mod:`recsvc.recs.hybrid` instead)."""
        return profile.vector if bool(np.any(profile.vector)) else None

    def embedding_hits(self, vec: np.ndarray | None, n_banned: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows and similarities of the nearest items, over-fetched by the rows sources will skip."""
        if vec is None or self.config.k_embedding == 0 or len(self.index) == 0:
            return None
        labels, scores = self.index.search_labels(vec, self.config.k_embedding + n_banned)
        labels, scores = labels[0], scores[0]
        ok = labels >= 0
        rows = self.label_row[labels[ok]]
        good = rows >= 0
        return rows[good], scores[ok][good]

    def embedding_hits_many(
        self, vecs: Sequence[np.ndarray | None], n_banned: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """:meth:`embedding_hits` of each (vector, banned count) pair, searched together."""
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(vecs)
        if self.config.k_embedding == 0 or len(self.index) == 0:
            return out
        todo = [i for i, v in enumerate(vecs) if v is not None]
        found = self.index.search_labels_many(
            [vecs[i] for i in todo],  # type: ignore[misc]
            [self.config.k_embedding + n_banned[i] for i in todo],
        )
        for i, (labels, scores) in zip(todo, found, strict=True):
            ok = labels >= 0
            rows = self.label_row[labels[ok]]
            good = rows >= 0
            out[i] = rows[good], scores[ok][good]
        return out

    def banned(self, profile: UserProfile, hard_banned: np.ndarray) -> np.ndarray:
        """The rows the discovery sources skip: ``hard_banned`` plus the touched items
        (see :func:`_touched_ban`)."""
        return np.union1d(hard_banned, _touched_ban(profile, self.config))

    def candidates_and_features(
        self,
        profile: UserProfile,
        *,
        now: float,
        hour: int,
        city: str,
        stage: int,
        trigger: str,
        hard_banned: np.ndarray,
        query_hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[Candidates, np.ndarray, np.ndarray]:
        """Candidates, their feature matrix, and the rows the discovery sources skipped
        (:meth:`banned`). ``query_hits`` (rows, scores), when a query retrieved items, take the
        embedding source's place, touched items included."""
        banned = self.banned(profile, hard_banned)
        from_query = query_hits is not None
        if query_hits is None:
            query_hits = self.embedding_hits(self.retrieval_vector(profile), len(banned))
        cands = self.candidates(
            profile, now=now, hour=hour, city=city, trigger=trigger, banned=banned, hard_banned=hard_banned,
            hits=query_hits, hits_from_query=from_query,
        )  # fmt: skip
        return cands, self.features(cands, profile, now=now, city=city, stage=stage), banned

    def candidates(
        self,
        profile: UserProfile,
        *,
        now: float,
        hour: int,
        city: str,
        trigger: str,
        banned: np.ndarray,
        hard_banned: np.ndarray,
        hits: tuple[np.ndarray, np.ndarray] | None,
        hits_from_query: bool = False,
    ) -> Candidates:
        return generate(
            profile,
            self.stats,
            config=self.config,
            embedding_hits=hits,
            city=city,
            hour=hour,
            now=now,
            banned=banned,
            hard_banned=hard_banned,
            trigger=trigger,
            hits_from_query=hits_from_query,
        )

    def features(self, cands: Candidates, profile: UserProfile, *, now: float, city: str, stage: int) -> np.ndarray:
        return build_features(
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


def _touched_ban(profile: UserProfile, config: RecsConfig) -> np.ndarray:
    """Touched rows that sources must skip (cart and due consumables come back through their sources)."""
    if config.rediscover_touched or not profile.touched:
        return np.zeros(0, dtype=np.int64)
    return np.fromiter(profile.touched, dtype=np.int64, count=len(profile.touched))
