"""Retrieval for a query in any language, and the order it imposes on a recommendation.

The sentence embedding model reads English only, so a Chinese query ("猫粮") finds nothing by
vector. As search engines do, the query is matched twice: by BM25 over every word the catalog has
for an item (titles and descriptions in every language, category and tags; CJK as character
n-grams, see :mod:`recsvc.recs.lexical`) and by the FAISS vector search; the two rankings are
combined by weighted reciprocal rank fusion. A query with CJK characters cannot be read by the
model (unless ``recs.embedding_reads_cjk`` says it can): its vector vote comes from the mean vector
of its best ``recs.query_feedback_hits`` lexical hits instead (pseudo-relevance feedback), so that
the items like the ones it names, in any language, take the places that single-character matches
would otherwise fill.

When a request has a query, the query decides the items: the fused top ``recs.k_query`` lead, in
the fused order. The user's history (the LightGBM ranker) only re-ranks the first
``recs.query_rerank_depth`` of them, with weight ``1 - recs.query_rank_weight``; other candidates
fill the list only when fewer query items are eligible than asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import l2_normalize
from recsvc.recs.index import ItemIndex
from recsvc.recs.items import ItemTable
from recsvc.recs.lexical import LexicalIndex, has_cjk, reciprocal_rank_fusion


@dataclass(frozen=True)
class QueryHits:
    """The items a query retrieved, best first, with their fused scores."""

    rows: np.ndarray  # int64 item rows
    scores: np.ndarray  # fused reciprocal-rank scores (float32), falling
    vector_voted: bool  # whether the vector search took part


class QueryRetriever:
    """The lexical index of an item table beside its vector index, and the fusion of both."""

    def __init__(self, items: ItemTable, config: RecsConfig) -> None:
        self._items = items
        self._config = config
        self._lexical = LexicalIndex.build([items.search_text(r) for r in range(len(items))])

    @property
    def size(self) -> int:
        return self._lexical.size

    def update(self, rows: np.ndarray) -> None:
        """Re-read the words of ``rows`` (changed or new items of the table) into the lexical index."""
        todo = np.unique(np.asarray(rows, dtype=np.int64)).tolist()  # ascending: new rows come in order
        self._lexical.set_texts(todo, [self._items.search_text(r) for r in todo])

    def vector_reads(self, query: str) -> bool:
        """Whether the embedding model can read ``query`` (so its vector gets a vote)."""
        return self._config.embedding_reads_cjk or not has_cjk(query)

    def search(
        self,
        query: str,
        query_vector: np.ndarray | None,
        index: ItemIndex,
        label_row: np.ndarray,
        row_vectors: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> QueryHits:
        """The fused top ``k_query`` rows for ``query``; ``query_vector`` None = the model cannot
        read it, and the mean vector of the best lexical hits (``row_vectors`` of rows) votes
        instead. ``label_row`` maps the vector index's labels to table rows (-1 = none)."""
        cfg = self._config
        k = cfg.k_query
        lex_rows, _ = self._lexical.search(query, k)
        n_feedback = min(cfg.query_feedback_hits, len(lex_rows))
        if query_vector is None and n_feedback and row_vectors is not None:
            query_vector = l2_normalize(row_vectors(lex_rows[:n_feedback]).mean(axis=0))
        rankings: list[np.ndarray] = [lex_rows]
        weights = [cfg.query_lexical_weight]
        voted = query_vector is not None and cfg.query_vector_weight > 0 and len(index) > 0
        if voted:
            labels, _ = index.search_labels(np.asarray(query_vector, dtype=np.float32), k)
            labels = labels[0][labels[0] >= 0]
            rows = label_row[labels]
            rankings.append(rows[rows >= 0])
            weights.append(cfg.query_vector_weight)
        fused = reciprocal_rank_fusion(rankings, weights=weights)
        fused = {r: s for r, s in fused.items() if s > 0}
        top = sorted(fused, key=lambda r: (-fused[r], r))[:k]
        return QueryHits(
            np.array(top, dtype=np.int64), np.array([fused[r] for r in top], dtype=np.float32), bool(voted)
        )


def query_led_scores(
    cand_rows: np.ndarray,
    ranker_scores: np.ndarray,
    eligible: np.ndarray,
    hits: QueryHits,
    *,
    depth: int,
    query_weight: float,
) -> np.ndarray:
    """Scores (higher first) that order the candidates as the query decides.

    Eligible query items come first in the fused order; among the first ``depth`` of them the
    order mixes the fused score, min-max scaled within them so that a clear match stands out
    (weight ``query_weight``), with the ranker's percentile (the rest). Then the other eligible
    query items in fused order, then every other candidate by the ranker. Scores lie in bands:
    [2, 3] re-ranked, (1, 2) the rest of the query's, [0, 1] the others."""
    out = _pct(ranker_scores)
    fused_rank = {int(r): i for i, r in enumerate(hits.rows.tolist())}
    pos = np.array([fused_rank.get(int(r), -1) for r in cand_rows.tolist()], dtype=np.int64)
    mine = np.flatnonzero((pos >= 0) & eligible)
    mine = mine[np.argsort(pos[mine], kind="stable")]
    head, tail = mine[:depth], mine[depth:]
    if len(head):
        fused = hits.scores[pos[head]].astype(np.float64)
        span = float(fused.max() - fused.min())
        by_query = (fused - fused.min()) / span if span > 0 else np.ones(len(head))
        out[head] = 2.0 + query_weight * by_query + (1.0 - query_weight) * _pct(ranker_scores[head])
    if len(tail):
        out[tail] = 1.0 + (len(tail) - np.arange(len(tail))) / (len(tail) + 1.0)
    return out


def _pct(x: np.ndarray) -> np.ndarray:
    """Percentile ranks in [0, 1] (ties broken by order), to mix scores of different scales."""
    if len(x) < 2:
        return np.ones(len(x))
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r / (len(x) - 1)
