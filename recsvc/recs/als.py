"""Implicit ALS shared by serving and the evaluation's baseline.

Hu, Koren, Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008, fitted by
the ``implicit`` library on confidence ``1 + alpha * count`` (one thread, a fixed seed). The
evaluation's ALS baseline and recsvc's ``als`` source call the same :func:`fit_als`, so they are
the same model.

Serving keeps only the item factors: a request's user factor is the closed-form ALS user step over
the user's history (Hu et al., eq. 4), with ``Y'Y`` precomputed at training,

    x_u = (Y'Y + Y_u' (C_u - I) Y_u + reg I)^-1 Y_u' C_u p_u,

where ``Y_u`` holds the factors of the items the user touched, ``C_u`` their confidences and
``p_u`` is all ones. A new user's factor is then what one more ALS sweep would give them, without
refitting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsvc.recs.item_item import count_matrix, head_by_users


@dataclass(frozen=True)
class AlsParams:
    """One point of the ALS grid."""

    factors: int
    regularization: float
    alpha: float
    iterations: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
        }


def confidence(counts: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """``1 + alpha * count`` on the stored (user, item) pairs of a users x items count matrix."""
    conf = (counts * float(alpha)).tocsr()
    conf.data = 1.0 + conf.data
    return conf


def fit_als(conf: sp.csr_matrix, params: AlsParams, seed: int = 0) -> Any:
    """implicit's ``AlternatingLeastSquares`` fitted on a users x items confidence matrix (see
    :func:`confidence`), on one thread with a fixed seed: the same factors on every run."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's own advice: its threads, not OpenBLAS's, do the work
        model = AlternatingLeastSquares(
            factors=int(params.factors),
            regularization=float(params.regularization),
            iterations=int(params.iterations),
            random_state=seed,
            # One thread: the same factors, and on a shared, loaded machine 2 spinning threads were 40x slower.
            num_threads=1,
            use_gpu=False,
        )
        model.fit(conf.astype(np.float32).tocsr(), show_progress=False)
    return model


@dataclass(frozen=True)
class AlsItems:
    """What serving needs of a fit: the item rows it covers (sorted), their factors, ``Y'Y`` over
    them and the knobs of the user step; empty when nothing was fitted."""

    head: np.ndarray  # (n,) int64 item rows, sorted
    factors: np.ndarray  # (n, f) float32, row i is the factor of item ``head[i]``
    yty: np.ndarray  # (f, f) float64
    regularization: float
    alpha: float

    @classmethod
    def empty(cls) -> AlsItems:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), np.zeros((0, 0)), 0.0, 0.0)

    @property
    def fitted(self) -> bool:
        return len(self.head) > 0 and self.factors.shape[1] > 0


def als_items(head: np.ndarray, item_factors: np.ndarray, params: AlsParams) -> AlsItems:
    """The serving part of a fit whose columns are the item rows ``head`` (sorted)."""
    y = np.ascontiguousarray(np.asarray(item_factors, dtype=np.float32))
    y64 = y.astype(np.float64)
    return AlsItems(np.asarray(head, dtype=np.int64), y, y64.T @ y64, float(params.regularization), float(params.alpha))


def fit_items(
    user_codes: np.ndarray, rows: np.ndarray, params: AlsParams, *, max_items: int, seed: int = 0
) -> AlsItems:
    """ALS on (user code, item row) events, each event counting once towards ``count``, over the
    ``max_items`` rows with the most users (a request scores every one of them); the item factors
    and what the user step needs."""
    rows = np.asarray(rows, dtype=np.int64)
    user_codes = np.asarray(user_codes, dtype=np.int64)
    if len(rows) == 0 or max_items <= 0:
        return AlsItems.empty()
    pairs = np.unique(np.stack([user_codes, rows], axis=1), axis=0)
    head = head_by_users(np.bincount(pairs[:, 1]), max_items)
    if len(head) < 2:
        return AlsItems.empty()
    keep = np.isin(rows, head)
    user_codes, cols = user_codes[keep], np.searchsorted(head, rows[keep])
    counts = count_matrix(user_codes, cols, int(user_codes.max()) + 1, len(head))
    model = fit_als(confidence(counts, params.alpha), params, seed)
    return als_items(head, np.asarray(model.item_factors), params)


def user_factor(
    factors: np.ndarray, yty: np.ndarray, regularization: float, alpha: float, cols: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """The closed-form ALS user step: the factor (float64) of a user who touched the factor rows
    ``cols`` ``counts`` times each (zeros without any)."""
    f = yty.shape[0]
    if len(cols) == 0:
        return np.zeros(f, dtype=np.float64)
    y = factors[cols].astype(np.float64)
    c = 1.0 + float(alpha) * np.asarray(counts, dtype=np.float64)
    a = yty + (y.T * (c - 1.0)) @ y
    a[np.diag_indices(f)] += float(regularization)
    return np.linalg.solve(a, y.T @ c)


def user_scores(als: AlsItems, rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted head rows, float32 ALS score) of a user who touched item ``rows`` ``counts`` times
    each; empty when no touched row has a factor."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    if not als.fitted or len(rows) == 0:
        return empty
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.minimum(np.searchsorted(als.head, rows), len(als.head) - 1)
    hit = (als.head[pos] == rows) & (np.asarray(counts) > 0)
    if not hit.any():
        return empty
    x = user_factor(als.factors, als.yty, als.regularization, als.alpha, pos[hit], np.asarray(counts)[hit])
    return als.head, als.factors @ x.astype(np.float32)
