"""One user's history condensed into what the candidate sources and the ranker features need.

A profile is built per request (and per user when the training set is made) from item rows,
event types and unix times already restricted to known items: decayed taste weights per row,
a unit taste vector, category affinity, median price, the cart and the last purchases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recsvc.recs.config import RecsConfig
from recsvc.recs.rowsets import unique_rows
from recsvc.recs.unixtime import decay
from recsvc.vocabulary import SERVICE_EVENT_TYPES


@dataclass
class UserProfile:
    """One user's history condensed into what sources and features need."""

    rows: np.ndarray  # distinct item rows touched, most recent first
    weights: np.ndarray  # decayed taste weight per row
    last_t: np.ndarray  # last event time per row
    vector: np.ndarray  # (dim,) unit taste vector (zeros when no history)
    query_vector: np.ndarray | None
    cat_affinity: dict[int, float]
    median_price: float
    n_events: int
    first_t: float
    last_event_t: float
    cart: np.ndarray  # rows in the cart (added, not bought or removed since)
    bought_last: dict[int, float]  # row -> last purchase time
    touched: frozenset[int]
    touched_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ``touched``, sorted
    # events with a taste weight per ``touched_rows`` entry: the counts ALS's confidence is made of
    touched_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @property
    def has_history(self) -> bool:
        return len(self.rows) > 0

    @classmethod
    def empty(cls, dim: int, query_vector: np.ndarray | None) -> UserProfile:
        """The profile of a user without (past) events: only the query, if any, says something."""
        rows = np.zeros(0, dtype=np.int64)
        return cls(
            rows,
            np.zeros(0),
            np.zeros(0),
            np.zeros(dim, dtype=np.float32),
            query_vector,
            {},
            float("nan"),
            0,
            float("nan"),
            float("nan"),
            rows,
            {},
            frozenset(),
        )


def build_profile(
    rows: np.ndarray,
    types: Sequence[str],
    ts: np.ndarray,
    now: float,
    *,
    item_vectors: np.ndarray,
    cat_codes: np.ndarray,
    prices: np.ndarray,
    config: RecsConfig,
    query_vector: np.ndarray | None = None,
) -> UserProfile:
    """Condense a history (item rows, event types, unix times, already restricted to known items).

    ``item_vectors`` holds the vectors of ``rows`` in the same order.
    """
    weights_map = config.weights()
    dim = item_vectors.shape[1] if item_vectors.ndim == 2 else 0
    # the user's own past actions only: an item the service pushed is not one the user touched,
    # and training (which learns from weighted actions) never counts it either
    past = (ts <= now + 1.0) & np.array([t not in SERVICE_EVENT_TYPES for t in types], dtype=bool)
    rows, ts, item_vectors = rows[past], ts[past], item_vectors[past]
    types = [t for t, p in zip(types, past.tolist(), strict=True) if p]
    n = len(rows)
    if n == 0:
        return UserProfile.empty(dim, query_vector)
    tw = np.array([weights_map.get(t, 0.0) for t in types], dtype=np.float64)
    w = tw * decay(now - ts, config.half_life_days)
    cart, bought = _cart_and_purchases(rows, types, ts)
    uniq, inv = unique_rows(rows)
    wsum = np.bincount(inv, weights=w, minlength=len(uniq))
    counts = np.bincount(inv, weights=(tw > 0).astype(np.float64), minlength=len(uniq))
    tlast = np.full(len(uniq), -np.inf)
    np.maximum.at(tlast, inv, ts)
    rec = np.argsort(-tlast, kind="stable")[: config.history_max]
    cats = cat_codes[uniq]
    cw = np.bincount(cats, weights=wsum + 1e-9)
    total = float(cw.sum())
    affinity = {int(c): float(cw[c] / total) for c in np.flatnonzero(cw)} if total > 0 else {}
    p = prices[uniq]
    p = p[np.isfinite(p)]
    return UserProfile(
        rows=uniq[rec].astype(np.int64),
        weights=wsum[rec],
        last_t=tlast[rec],
        vector=_taste_vector(w, item_vectors, dim),
        query_vector=query_vector,
        cat_affinity=affinity,
        median_price=_median(p) if len(p) else float("nan"),
        n_events=n,
        first_t=float(ts.min()),
        last_event_t=float(ts.max()),
        cart=cart,
        bought_last=bought,
        touched=frozenset(int(r) for r in uniq.tolist()),
        touched_rows=uniq.astype(np.int64),
        touched_counts=counts,
    )


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of finite floats (a sort, without ``np.median``'s overhead):
    the middle value, or the two middle ones summed and halved as ``np.mean`` does."""
    s = np.sort(values)
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else float((s[m - 1] + s[m]) / 2)


def _cart_and_purchases(rows: np.ndarray, types: Sequence[str], ts: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """Rows still in the cart, and each bought row's last purchase time."""
    # the latest cart-related event per item decides
    cart: dict[int, bool] = {}
    bought: dict[int, float] = {}
    order = np.argsort(ts, kind="stable")
    for i in order.tolist():
        t = types[i]
        r = int(rows[i])
        if t == "add_to_cart":
            cart[r] = True
        elif t in ("purchase", "remove_from_cart"):
            cart[r] = False
            if t == "purchase":
                bought[r] = float(ts[i])
    return np.array([r for r, v in cart.items() if v], dtype=np.int64), bought


def _taste_vector(w: np.ndarray, item_vectors: np.ndarray, dim: int) -> np.ndarray:
    """Unit vector of the taste-weighted item vectors (zeros when there is nothing to average)."""
    vec_sum = np.zeros(dim, dtype=np.float64)
    if dim:
        vec_sum = (w[:, None] * item_vectors).sum(axis=0)
        if not np.any(vec_sum):  # all weights zero (e.g. only pushes): plain mean still says something
            vec_sum = item_vectors.mean(axis=0)
    norm = float(np.linalg.norm(vec_sum))
    return (vec_sum / norm).astype(np.float32) if norm > 0 else np.zeros(dim, dtype=np.float32)
