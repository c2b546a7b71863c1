"""A BM25 index over the items' words in every language, and rank fusion with the vector search.

The sentence embedding model reads English only, so a Chinese query ("猫粮") finds nothing by
vector. Search engines solve this with hybrid retrieval: a lexical index beside the vectors, with
the two rankings fused. Terms here are lower-cased words (with a light plural strip) for
alphabetic scripts, and character unigrams and bigrams for Han, kana and Hangul runs, which need
no word segmenter and are the standard CJK baseline. A query's character counts only where no
bigram of the catalog's covers it: "猫粮" then matches cat food, never the 猫 of the brand 熊猫
(panda), and a rare character still matches alone. Scores are Okapi BM25 (k1 = 1.2, b = 0.75)
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
_CJK_CHAR = re.compile(rf"[{_CJK}]")
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
    """BM25 over item texts; rows are items, addressed by their position in the item table.

    Texts can be set or replaced per row at any time (catalog updates); each row keeps its term
    counts, and the BM25 weights (which depend on every row through idf and the mean length) are
    rebuilt from them, vectorized, on the first search after a change.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._vocabulary: dict[str, int] = {}
        self._terms: list[np.ndarray] = []  # per row: term ids (int64)
        self._counts: list[np.ndarray] = []  # per row: term counts (float64), aligned with _terms
        self._weights: sparse.csc_matrix | None = None  # items x terms; None = stale

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> LexicalIndex:
        index = cls(k1, b)
        index.set_texts(range(len(texts)), texts)
        return index

    @property
    def size(self) -> int:
        return len(self._terms)

    def set_texts(self, rows: Iterable[int], texts: Iterable[str]) -> None:
        """Index ``texts`` as the given rows: a known row is replaced, the next new row appended
        (rows are positions, so new rows must come in order without gaps)."""
        for row, text in zip(rows, texts, strict=True):
            counts = Counter(tokenize(text))
            ids = np.fromiter((self._vocabulary.setdefault(t, len(self._vocabulary)) for t in counts), np.int64)
            tf = np.fromiter(counts.values(), np.float64, count=len(counts))
            if row < len(self._terms):
                self._terms[row], self._counts[row] = ids, tf
            elif row == len(self._terms):
                self._terms.append(ids)
                self._counts.append(tf)
            else:
                raise ValueError(f"row {row} skips rows (the index has {len(self._terms)})")
        self._weights = None

    def _matrix(self) -> sparse.csc_matrix:
        if self._weights is None:
            self._weights = self._bm25_weights()
        return self._weights

    def _bm25_weights(self) -> sparse.csc_matrix:
        n, n_terms = len(self._terms), len(self._vocabulary)
        lengths = np.array([c.sum() for c in self._counts], dtype=np.float64)
        sizes = np.array([len(t) for t in self._terms], dtype=np.int64)
        row_idx = np.repeat(np.arange(n, dtype=np.int64), sizes)
        col_idx = np.concatenate(self._terms) if n else np.zeros(0, dtype=np.int64)
        tf = np.concatenate(self._counts) if n else np.zeros(0, dtype=np.float64)
        mean_len = float(lengths.mean()) if n and lengths.sum() else 1.0
        df = np.bincount(col_idx, minlength=n_terms).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        norm = self._k1 * (1.0 - self._b + self._b * lengths[row_idx] / mean_len)
        w = idf[col_idx] * tf * (self._k1 + 1.0) / (tf + norm)
        return sparse.csc_matrix((w.astype(np.float32), (row_idx, col_idx)), shape=(n, n_terms))

    def query_terms(self, query: str) -> list[str]:
        """The indexed terms of ``query``: its words, and for CJK its bigrams that some item has,
        plus the characters that none of those bigrams covers."""
        terms: list[str] = []
        for run in _TOKEN.findall(query.lower()):
            if not _CJK_RUN.match(run):
                terms.append(_stem(run))
                continue
            known = [i for i in range(len(run) - 1) if run[i : i + 2] in self._vocabulary]
            covered = {j for i in known for j in (i, i + 1)}
            terms.extend(run[i : i + 2] for i in known)
            terms.extend(ch for j, ch in enumerate(run) if j not in covered)
        return [t for t in terms if t in self._vocabulary]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for ``query`` (0 where no term matches)."""
        counts = Counter(self.query_terms(query))
        weights = self._matrix()
        out = np.zeros(self.size, dtype=np.float32)
        for term, qtf in counts.items():
            col = self._vocabulary[term]
            lo, hi = weights.indptr[col], weights.indptr[col + 1]
            out[weights.indices[lo:hi]] += qtf * weights.data[lo:hi]
        return out

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the ``k`` best matching items (only items that match a term)."""
        s = self.scores(query)
        hit = np.flatnonzero(s > 0)
        if len(hit) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = hit[np.argsort(-s[hit], kind="stable")[:k]]
        return top, s[top]


def reciprocal_rank_fusion(
    rankings: Iterable[Sequence[int] | np.ndarray], k: float = RRF_K, weights: Sequence[float] | None = None
) -> dict[int, float]:
    """Fused score of every row ranked anywhere: the sum of weight / (k + rank) over the rankings
    (every weight 1 when ``weights`` is None)."""
    fused: dict[int, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else float(weights[i])
        for rank, row in enumerate(ranking, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + w / (k + rank)
    return fused


def has_cjk(text: str) -> bool:
    """Whether ``text`` has a Han, kana or Hangul character (which an English-only encoder cannot read)."""
    return _CJK_CHAR.search(text) is not None


def item_search_text(title: str, description: str, category: str, tags: str, localized: Iterable[str]) -> str:
    """All words a searcher may use for an item: its texts in every language, category and tags."""
    parts = [title, description, category.replace("_", " "), tags.replace("|", " "), *localized]
    return " ".join(p for p in parts if p and not (isinstance(p, float) and math.isnan(p)))
