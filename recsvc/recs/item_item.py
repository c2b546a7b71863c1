"""Item-item models shared by serving and the evaluation's baselines: EASE and cosine item-kNN.

EASE: Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019: the closed form
B = I - P diagMat(1 / diag(P)) with P = (X'X + lambda I)^-1, diag(B) = 0, on binary X.
Item-kNN: cosine similarity between item columns of binary X; each target item keeps its k most
similar items. A user's score for an item sums the weights from the items the user touched.

Both need an items x items dense matrix, so serving fits EASE only on the ``max_items`` items with
the most users (the head of the catalog, where the evidence is) and keeps, per source item, its
``n`` largest weights (:func:`top_neighbours`): a request then sums a few hundred numbers per
history item, like the co-occurrence source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsvc.recs.rowsets import unique_rows


def count_matrix(user_codes: np.ndarray, cols: np.ndarray, n_users: int, n_cols: int) -> sp.csr_matrix:
    """Users x items matrix (float32) of how many (user code, column) pairs name each cell."""
    x = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (user_codes, cols)), shape=(n_users, n_cols))
    x.sum_duplicates()
    return x


def binary_matrix(user_codes: np.ndarray, cols: np.ndarray, n_users: int, n_cols: int) -> sp.csr_matrix:
    """Binary users x items matrix from (user code, column) pairs (duplicates count once)."""
    x = count_matrix(user_codes, cols, n_users, n_cols)
    x.data = np.ones_like(x.data)
    return x


def head_by_users(users_per_row: np.ndarray, max_items: int) -> np.ndarray:
    """The rows (sorted) with at least one user, at most ``max_items`` of those with the most (ties
    to the lower row): the head of the catalog that EASE and ALS are fitted on."""
    head = np.flatnonzero(users_per_row > 0)
    if len(head) > max_items:
        head = np.sort(head[np.argsort(-users_per_row[head], kind="stable")[:max_items]])
    return head


def gram(x: sp.csr_matrix) -> np.ndarray:
    """X'X as a dense float64 matrix."""
    return np.asarray((x.T @ x).toarray(), dtype=np.float64)


def ease_from_gram(g: np.ndarray, lam: float) -> np.ndarray:
    """EASE weights from the Gram matrix ``g`` (left untouched) and the L2 weight ``lam``."""
    g = g.copy()
    di = np.diag_indices_from(g)
    g[di] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[di] = 0.0
    return b


def ease_weights(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE's item x item weights B for binary ``x`` (closed form, zero diagonal)."""
    return ease_from_gram(gram(x), lam)


def knn_weights(x: sp.csr_matrix, k: int) -> np.ndarray:
    """Cosine item x item similarities; each column (target item) keeps its ``k`` largest."""
    g = gram(x)
    norms = np.sqrt(np.diag(g))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(np.outer(norms, norms) > 0, g / np.outer(norms, norms), 0.0)
    np.fill_diagonal(s, 0.0)
    if k < s.shape[0]:
        drop = np.argpartition(-s, k, axis=0)[k:, :]
        np.put_along_axis(s, drop, 0.0, axis=0)
    return s


def top_neighbours(w: np.ndarray, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``w`` (a source item), its ``n`` largest positive weights, best first.

    Returns (neighbour columns, or ``labels[column]`` when given, as int32 padded with -1;
    float32 weights padded with 0), each of shape (rows, n)."""
    rows, cols = w.shape
    nbr = np.full((rows, n), -1, dtype=np.int32)
    score = np.zeros((rows, n), dtype=np.float32)
    take = min(n, cols)
    if rows == 0 or take == 0:
        return nbr, score
    idx = np.argpartition(-w, take - 1, axis=1)[:, :take] if take < cols else np.tile(np.arange(cols), (rows, 1))
    val = np.take_along_axis(w, idx, axis=1)
    order = np.argsort(-val, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    val = np.take_along_axis(val, order, axis=1)
    keep = val > 0  # a negative weight only ever lowers a score: not worth proposing from
    mapped = labels[idx] if labels is not None else idx
    nbr[:, :take] = np.where(keep, mapped, -1)
    score[:, :take] = np.where(keep, val, 0.0)
    return nbr, score


def neighbour_scores(nbr: np.ndarray, score: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted target rows, summed weight) over the neighbour lists of the ``sources`` rows."""
    flat = nbr[sources].ravel()
    sc = score[sources].ravel()
    ok = flat >= 0
    flat, sc = flat[ok], sc[ok]
    if not len(flat):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    uniq, inv = unique_rows(flat)
    return uniq, np.bincount(inv, weights=sc, minlength=len(uniq)).astype(np.float32)


def fit_ease_neighbours(
    user_codes: np.ndarray,
    rows: np.ndarray,
    n_rows: int,
    *,
    lam: float,
    max_items: int,
    n_neighbours: int,
) -> tuple[np.ndarray, np.ndarray]:
    """EASE on the ``max_items`` rows with the most users, as (n_rows, n_neighbours) neighbour rows
    and weights per source row (rows outside the head get none)."""
    fit = fit_ease(user_codes, rows, n_rows, lam=lam, max_items=max_items, n_neighbours=n_neighbours, dense_max=0)
    return fit.nbr, fit.score


def empty_dense() -> tuple[np.ndarray, np.ndarray]:
    """No dense EASE: (head rows, head x head weights) both empty."""
    return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class EaseFit:
    """EASE as neighbour lists (``nbr``, ``score``: see :func:`top_neighbours`) and, for a head of at
    most ``dense_max`` items, the whole weight matrix: ``dense[i, j]`` is the weight from row
    ``head[i]`` to row ``head[j]`` (negative weights included), else both are empty."""

    nbr: np.ndarray
    score: np.ndarray
    head: np.ndarray
    dense: np.ndarray


def fit_ease(
    user_codes: np.ndarray,
    rows: np.ndarray,
    n_rows: int,
    *,
    lam: float,
    max_items: int,
    n_neighbours: int,
    dense_max: int,
) -> EaseFit:
    """:func:`fit_ease_neighbours`, plus the dense weights when the head has at most ``dense_max``
    items: scoring with every weight, the negative ones too, is what EASE is; the neighbour lists
    keep only the largest positive ones so that big catalogs stay cheap per request."""
    nbr = np.full((n_rows, n_neighbours), -1, dtype=np.int32)
    score = np.zeros((n_rows, n_neighbours), dtype=np.float32)
    head0, dense0 = empty_dense()
    if len(rows) == 0:
        return EaseFit(nbr, score, head0, dense0)
    n_users = int(user_codes.max()) + 1
    x_all = binary_matrix(user_codes, rows, n_users, n_rows)
    head = head_by_users(np.asarray(x_all.sum(axis=0)).ravel(), max_items)
    if len(head) < 2:
        return EaseFit(nbr, score, head0, dense0)
    b = ease_weights(x_all[:, head].tocsr(), lam)
    nbr[head], score[head] = top_neighbours(b, n_neighbours, labels=head.astype(np.int32))
    if len(head) > dense_max:
        return EaseFit(nbr, score, head0, dense0)
    return EaseFit(nbr, score, head.astype(np.int64), b.astype(np.float32))


def dense_scores(
    col_of: np.ndarray, dense: np.ndarray, head: np.ndarray, sources: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(head rows, summed dense EASE weight from the ``sources`` rows) like :func:`neighbour_scores`;
    ``col_of`` maps a row to its head column (-1 outside the head). Empty when no source is in the head."""
    cols = col_of[sources[sources < len(col_of)]]
    cols = cols[cols >= 0]
    if not len(cols):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return head, dense[cols].sum(axis=0, dtype=np.float32)
