from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsvc.recs.item_item import (
    binary_matrix,
    dense_scores,
    ease_weights,
    fit_ease,
    fit_ease_neighbours,
    neighbour_scores,
    top_neighbours,
)


def test_top_neighbours_keeps_the_largest_positive_weights_best_first() -> None:
    w = np.array([[0.0, 0.5, -0.2, 0.9], [0.3, 0.0, 0.1, -1.0], [-0.1, -0.2, 0.0, -0.3]])
    nbr, score = top_neighbours(w, 2)
    assert nbr.tolist() == [[3, 1], [0, 2], [-1, -1]]
    assert score[0].tolist() == pytest.approx([0.9, 0.5])
    assert score[2].tolist() == [0.0, 0.0]
    # more room than columns: padded; labels rename the columns
    nbr, _ = top_neighbours(w, 6, labels=np.array([10, 11, 12, 13], dtype=np.int32))
    assert nbr[0].tolist() == [13, 11, -1, -1, -1, -1]


def test_neighbour_scores_sum_the_weights_of_every_source() -> None:
    nbr = np.array([[1, 2], [2, -1], [0, 1]], dtype=np.int32)
    score = np.array([[0.5, 0.25], [1.0, 0.0], [0.1, 0.2]], dtype=np.float32)
    rows, total = neighbour_scores(nbr, score, np.array([0, 1]))
    assert rows.tolist() == [1, 2]
    assert total.tolist() == pytest.approx([0.5, 1.25])
    rows, total = neighbour_scores(nbr, score, np.zeros(0, dtype=np.int64))
    assert len(rows) == 0 and len(total) == 0


def test_serving_ease_scores_equal_the_dense_model_when_nothing_is_cut() -> None:
    rng = np.random.default_rng(1)
    dense = (rng.random((60, 8)) < 0.3).astype(np.float32)
    users, rows = np.nonzero(dense)
    nbr, score = fit_ease_neighbours(users, rows, 8, lam=5.0, max_items=8, n_neighbours=8)
    b = ease_weights(sp.csr_matrix(dense), 5.0)
    history = np.array([0, 3, 5])
    got_rows, got = neighbour_scores(nbr, score, history)
    want = np.maximum(b, 0.0)[history].sum(axis=0)  # serving keeps positive weights only
    assert got == pytest.approx(want[got_rows], abs=1e-5)
    assert np.all(want[np.setdiff1d(np.arange(8), got_rows)] == 0)


def test_ease_is_fitted_on_the_items_with_the_most_users_only() -> None:
    # items 0-2 have 3 users each, item 3 one user: with max_items=3, item 3 neither proposes nor is proposed
    pairs = [(u, i) for u in range(3) for i in range(3)] + [(0, 3)]
    users = np.array([p[0] for p in pairs])
    rows = np.array([p[1] for p in pairs])
    nbr, _ = fit_ease_neighbours(users, rows, 5, lam=1.0, max_items=3, n_neighbours=4)
    assert (nbr[3] == -1).all() and (nbr[4] == -1).all()
    assert not (nbr[:3] == 3).any()
    assert set(nbr[0][nbr[0] >= 0].tolist()) <= {1, 2}


def test_binary_matrix_counts_repeats_once() -> None:
    x = binary_matrix(np.array([0, 0, 1]), np.array([2, 2, 0]), 2, 3)
    assert x.toarray().tolist() == [[0, 0, 1], [1, 0, 0]]


def test_small_heads_keep_the_whole_ease_matrix_and_score_exactly() -> None:
    rng = np.random.default_rng(2)
    dense = (rng.random((80, 7)) < 0.35).astype(np.float32)
    dense[:, 1] = 1.0 - dense[:, 0]  # items 0 and 1 exclude each other: a negative weight
    dense[:, 6] = 0.0  # row 6: nobody touched it, so it is outside the head
    users, rows = np.nonzero(dense)
    fit = fit_ease(users, rows, 7, lam=3.0, max_items=7, n_neighbours=2, dense_max=6)
    assert fit.head.tolist() == [0, 1, 2, 3, 4, 5]
    b = ease_weights(sp.csr_matrix(dense[:, :6]), 3.0)
    assert fit.dense == pytest.approx(b.astype(np.float32), abs=1e-6)
    assert fit.dense[0, 1] < 0  # negative weights are kept: they push items down
    col_of = np.full(7, -1, dtype=np.int64)
    col_of[fit.head] = np.arange(6)
    history = np.array([0, 3, 5, 6])
    got_rows, got = dense_scores(col_of, fit.dense, fit.head, history)
    assert got_rows.tolist() == [0, 1, 2, 3, 4, 5]
    assert got == pytest.approx(b[[0, 3, 5]].sum(axis=0), abs=1e-5)
    # nothing of the history in the head: no scores at all
    none_rows, none = dense_scores(col_of, fit.dense, fit.head, np.array([6]))
    assert len(none_rows) == 0 and len(none) == 0
    # a head larger than dense_max: neighbour lists only
    big = fit_ease(users, rows, 7, lam=3.0, max_items=7, n_neighbours=2, dense_max=5)
    assert len(big.head) == 0 and big.dense.shape == (0, 0)
    assert big.nbr.tolist() == fit.nbr.tolist()
