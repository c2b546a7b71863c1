"""The baselines recsvc is compared with: who gets which push at what local hour, day by day.

* ``batch_and_blast``: every opted-in user who has not unsubscribed, every day, the shop's most
  bought item, at :data:`BLAST_HOUR` local time;
* ``random``: the same users every day, an item and a local hour (8-22) drawn at random;
* ``none``: no pushes at all (the app on its own).

The ``recsvc`` policy is the service itself (:mod:`~recsvc.simulate.service`).
"""

from __future__ import annotations

import numpy as np

from recsvc.simulate.response import Population, Pushes, UserState

POLICIES: tuple[str, ...] = ("recsvc", "batch_and_blast", "random", "none")
BLAST_HOUR = 20.0  # local time: the evening, when most people are on their phones


def _audience(pop: Population, state: UserState) -> np.ndarray:
    """Who a sender without a model pushes: opted in and not unsubscribed."""
    return np.flatnonzero(pop.push_opt_in & ~state.unsubscribed)


def batch_and_blast(pop: Population, state: UserState, popular_item: int) -> Pushes:
    users = _audience(pop, state)
    n = len(users)
    return Pushes(users, np.full(n, popular_item, dtype=np.int64), np.full(n, BLAST_HOUR), [""] * n)


def random_policy(pop: Population, state: UserState, seed: int, day: int) -> Pushes:
    rng = np.random.default_rng([seed, 99, day])
    users = _audience(pop, state)
    n = len(users)
    items = rng.integers(0, len(pop.item_ids), n)
    return Pushes(users, items, rng.uniform(8.0, 22.0, n), [""] * n)


def send_times(pop: Population, p: Pushes, day_start: float) -> np.ndarray:
    """UTC seconds of each push's local hour on the UTC day that starts at ``day_start``."""
    return np.asarray(day_start + (p.local_hour * 3600.0 - pop.offset_s[p.users]) % 86400.0)
