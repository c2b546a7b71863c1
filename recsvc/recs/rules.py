"""Business rules applied after ranking: eligibility filters, then category diversity.

Filters never let an item through that must not be sent (out of stock, not sold in the user's
city, excluded, pushed recently, bought recently unless it is due for a repurchase); diversity
only reorders, and relaxes itself rather than return fewer than ``k`` items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from recsvc.recs.unixtime import DAY


def eligible(
    rows: np.ndarray,
    *,
    in_stock: np.ndarray,
    cities: Sequence[frozenset[str]],
    city: str,
    excluded: np.ndarray,
    recently_pushed: np.ndarray,
    bought_last: dict[int, float],
    repurchase_ok: np.ndarray,
    now: float,
    no_rebuy_days: int,
) -> np.ndarray:
    """Boolean mask over ``rows``: which candidates may be recommended at all."""
    ok = in_stock[rows].copy()
    if city:
        c = city.strip().lower()
        ok &= np.array([not cities[r] or c in cities[r] for r in rows.tolist()], dtype=bool)
    if len(excluded):
        ok &= ~np.isin(rows, excluded)
    if len(recently_pushed):
        ok &= ~np.isin(rows, recently_pushed)
    if bought_last:
        limit = no_rebuy_days * DAY
        recent = np.array([r in bought_last and now - bought_last[r] < limit for r in rows.tolist()], dtype=bool)
        ok &= ~recent | repurchase_ok
    return ok


def diversify(order: np.ndarray, categories: np.ndarray, k: int, max_share: float) -> np.ndarray:
    """Take ``order`` (best first) greedily, at most ``ceil(max_share * k)`` per category.

    When the cap leaves fewer than ``k`` items the skipped ones fill the rest in score order.
    """
    k = min(k, len(order))
    if k <= 0:
        return order[:0]
    cap = max(1, math.ceil(max_share * k))
    if cap >= k:
        return order[:k]
    taken: list[int] = []
    skipped: list[int] = []
    per: dict[int, int] = {}
    for i, c in zip(order.tolist(), categories[order].tolist(), strict=True):
        if per.get(c, 0) < cap:
            taken.append(i)
            per[c] = per.get(c, 0) + 1
            if len(taken) == k:
                break
        else:
            skipped.append(i)
    if len(taken) < k:
        taken.extend(skipped[: k - len(taken)])
    return np.array(taken, dtype=np.int64)


def parse_cities(value: object) -> frozenset[str]:
    """``'Shanghai|Beijing'`` -> {'shanghai', 'beijing'}; empty means sold everywhere."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return frozenset()
    s = str(value).strip()
    if s in ("", "<NA>", "nan"):
        return frozenset()
    return frozenset(p.strip().lower() for p in s.split("|") if p.strip())
