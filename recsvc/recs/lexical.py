"""A BM25 index over the items' words in every language, and rank fusion with the vector search.

The sentence embedding model reads English only, so a Chinese query ("猫粮") finds nothing by
vector. Search engines solve this with hybrid retrieval: a lexical index beside the vectors, with
the two rankings fused. Terms here are lower-cased words (with a light plural strip) for
alphabetic scripts, and character unigrams and bigrams for Han, kana and Hangul runs, which need
no word segmenter and are the standard CJK baseline. Scores are Okapi BM25 (k1 = 1.2, b = 0.75)
over all text fields of an item; the two rankings are combined by reciprocal rank fusion.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_CJK_RUN = re.compile(rf"^[{_CJK}]+$")
# Reciprocal rank fusion's constant: 60 in Cormack et al. (2009) and in most search engines.
RRF_K = 60.0


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Index terms of ``text``: words for alphabetic scripts, character 1- and 2-grams for CJK."""
    terms: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if _CJK_RUN.match(run):
            terms.extend(run)
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(_stem(run))
    return terms


class LexicalIndex:
    """BM25 over item texts; rows are items in the order given to :meth:`build`."""

    def __init__(self, weights: sparse.csc_matrix, vocabulary: dict[str, int]) -> None:
        self._weights = weights  # items x terms, BM25 term weights (idf x saturated tf)
        self._vocabulary = vocabulary

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> LexicalIndex:
        docs = [Counter(tokenize(t)) for t in texts]
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        for r, doc in enumerate(docs):
            for term, count in doc.items():
                rows.append(r)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                tfs.append(float(count))
        n = len(docs)
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        mean_len = float(lengths.mean()) if n and lengths.sum() else 1.0
        row_idx = np.array(rows, dtype=np.int64)
        col_idx = np.array(cols, dtype=np.int64)
        tf = np.array(tfs, dtype=np.float64)
        df = np.bincount(col_idx, minlength=len(vocabulary)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths[row_idx] / mean_len)
        w = idf[col_idx] * tf * (k1 + 1.0) / (tf + norm)
        weights = sparse.csc_matrix((w.astype(np.float32), (row_idx, col_idx)), shape=(n, len(vocabulary)))
        return cls(weights, vocabulary)

    @property
    def size(self) -> int:
        return int(self._weights.shape[0])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for ``query`` (0 where no term matches)."""
        counts = Counter(t for t in tokenize(query) if t in self._vocabulary)
        out = np.zeros(self.size, dtype=np.float32)
        for term, qtf in counts.items():
            col = self._weights.getcol(self._vocabulary[term])
            out[col.indices] += qtf * col.data
        return out

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the ``k`` best matching items (only items that match a term)."""
        s = self.scores(query)
        hit = np.flatnonzero(s > 0)
        if len(hit) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = hit[np.argsort(-s[hit], kind="stable")[:k]]
        return top, s[top]


def reciprocal_rank_fusion(rankings: Iterable[Sequence[int]], k: float = RRF_K) -> dict[int, float]:
    """Fused score of every row ranked anywhere: the sum of 1 / (k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + 1.0 / (k + rank)
    return fused


def item_search_text(title: str, description: str, category: str, tags: str, localized: Iterable[str]) -> str:
    """All words a searcher may use for an item: its texts in every language, category and tags."""
    parts = [title, description, category.replace("_", " "), tags.replace("|", " "), *localized]
    return " ".join(p for p in parts if p and not (isinstance(p, float) and math.isnan(p)))
