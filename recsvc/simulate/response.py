"""The simulated users and how they answer pushes: the hidden response model.

Nothing here is visible to recsvc: its models only see the events these users produce. Every user
has, drawn from the demo world's hidden traits (same seed, same users as ``recsvc demo-data``):

* **interest** per category: 1.0, 0.75 and 0.55 for the user's first, second and third favourite
  categories (the ones their history browses most), 0.08 for any other;
* **active hours**: one or two peak hours of the local day; a push's *hour fit* is
  ``exp(-d**2 / (2 * 1.5**2))`` of its distance ``d`` (hours) to the nearest peak;
* **push affinity** ``sigmoid(push_affinity)`` and an **engagement** in [0, 1] that starts at 1
  (0.2 for users who had churned before the simulation) and **decays** every day by
  ``0.01 + 0.03 * sigmoid(-satisfaction)``;
* an **organic rate**: the chance to open the app on a day is ``rate * engagement`` (rate 0.75,
  0.45, 0.2 for heavy, regular and light users);
* **fatigue** ``f``: 1 for this push plus ``exp(-age_days / 2)`` for every earlier push;
* each copy variant's **hidden appeal** (:data:`VARIANT_APPEAL`, 1.0 for any other variant).

A delivered push is opened with probability (at most 0.95)
``0.9 * affinity * (0.25 + 0.75 * hour_fit) * (0.25 + 0.75 * interest) * appeal``
``* (0.4 + 0.6 * engagement) * exp(-0.25 * (f - 1))``, clicked when opened with
``0.3 + 0.6 * interest``, and a click converts with ``0.08 + 0.3 * interest``. An unopened push
is dismissed with 0.3 and ends in an unsubscribe with ``0.0005 + 0.004 * f * (1 - interest)``:
fatigue and irrelevant pushes drive opt-outs. An opened push is a visit that day; a click raises
engagement by ``0.3 * interest * (1 - engagement)`` and an open without a click by
``0.05 * (1 - engagement)``: a good push brings the user back. Users who churned and uninstalled
the app before the simulation never get a push delivered.

All randomness of a day is drawn once from ``default_rng([seed, day])`` and shared by every policy
(common random numbers), so the policies differ only by what they push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.demo.world import World

Array = np.ndarray[Any, Any]

# The copy variants' hidden appeal (a multiplier on the chance to open); recsvc's bandit must find it.
VARIANT_APPEAL: dict[str, float] = {"plain": 0.85, "urgent": 1.0, "friendly": 1.3}
ORGANIC_RATE = np.array([0.75, 0.45, 0.2])  # heavy, regular, light
FAVOURITE_INTEREST = (1.0, 0.75, 0.55)
OTHER_INTEREST = 0.08
FATIGUE_HALF_DAYS = 2.0


def sigmoid(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@dataclass(frozen=True)
class Population:
    """The hidden traits of the simulated users (arrays indexed by user) and of the shop's items."""

    user_ids: list[str]
    offset_s: Array  # UTC offset of the user's zone, seconds
    interest: Array  # (n_users, n_categories)
    peaks: Array  # (n_users, 2) local peak hours; the second is -1 when there is one
    affinity: Array
    organic_rate: Array
    decay: Array
    engagement0: Array
    reachable: Array  # a push can be delivered (not churned-and-uninstalled)
    push_opt_in: Array
    item_ids: list[str]
    item_category: Array
    item_popularity: Array  # a global popularity weight per item (sums to 1)
    item_price: Array
    appeal: dict[str, float] = field(default_factory=lambda: dict(VARIANT_APPEAL))

    @property
    def n(self) -> int:
        return len(self.user_ids)

    @classmethod
    def from_world(cls, w: World, users: pd.DataFrame, items: pd.DataFrame) -> Population:
        """The users of the demo world ``w`` (``users``/``items``: its tables, in the world's order)."""
        n = w.cfg.n_users
        interest = np.full((n, w.shop.category_weight.shape[0]), OTHER_INTEREST)
        for k, value in enumerate(FAVOURITE_INTEREST):
            has = w.taste.n_prefs > k
            interest[np.flatnonzero(has), w.taste.prefs[has, k]] = value
        peaks = np.stack([w.rhythm.peak1, np.where(w.rhythm.n_peaks == 2, w.rhythm.peak2, -1)], axis=1)
        churned = w.life.churn_day <= w.cfg.days
        last_day = w.cfg.days - 1 + w.day_pad
        opt = users["push_opt_in"].astype(str).str.lower().isin(("true", "1", "yes"))
        pop = w.shop.category_weight[w.shop.category] * w.shop.popularity
        return cls(
            user_ids=[str(u) for u in users["user_id"]],
            offset_s=w.offsets[w.home.tz, last_day].astype(np.int64),
            interest=interest,
            peaks=peaks.astype(np.float64),
            affinity=sigmoid(w.attitudes.push_affinity),
            organic_rate=ORGANIC_RATE[w.kind.activity],
            decay=0.01 + 0.03 * sigmoid(-w.attitudes.satisfaction),
            engagement0=np.where(churned, 0.2, 1.0),
            reachable=~(churned & w.life.uninstalled),
            push_opt_in=opt.to_numpy(),
            item_ids=[str(i) for i in items["item_id"]],
            item_category=np.asarray(w.shop.category),
            item_popularity=pop / pop.sum(),
            item_price=pd.to_numeric(items["price"], errors="coerce").fillna(0.0).to_numpy(),
        )

    def hour_fit(self, users: Array, local_hour: Array) -> Array:
        """1 at a peak hour of the user, falling off over about two hours."""
        best = np.full(len(users), 12.0)
        for k in range(2):
            peak = self.peaks[users, k]
            d = np.abs(((local_hour - (peak + 0.5)) + 12) % 24 - 12)
            best = np.where(peak >= 0, np.minimum(best, d), best)
        return np.asarray(np.exp(-(best**2) / (2 * 1.5**2)))

    def variant_appeal(self, variants: list[str]) -> Array:
        return np.array([self.appeal.get(v, 1.0) for v in variants])


@dataclass
class UserState:
    """What a policy's pushes changed for each user: engagement, fatigue, opt-outs, activity."""

    engagement: Array
    fatigue: Array  # decayed count of past pushes
    unsubscribed: Array
    active: Array  # (days, n_users): opened the app that day

    @classmethod
    def start(cls, pop: Population, days: int) -> UserState:
        return cls(
            engagement=pop.engagement0.copy(),
            fatigue=np.zeros(pop.n),
            unsubscribed=np.zeros(pop.n, dtype=bool),
            active=np.zeros((days, pop.n), dtype=bool),
        )


@dataclass(frozen=True)
class DayDraws:
    """One day's random numbers, the same for every policy."""

    organic: Array
    open: Array
    click: Array
    buy: Array
    unsub: Array
    dismiss: Array
    organic_buy: Array
    minute: Array  # minutes after the send that an answer comes
    session_hour: Array  # local hour of the organic session, near a peak
    view_item: Array  # the item an organic session views (in a category of interest)

    @classmethod
    def draw(cls, pop: Population, seed: int, day: int) -> DayDraws:
        rng = np.random.default_rng([seed, day])
        n = pop.n
        peak = np.where((pop.peaks[:, 1] >= 0) & (rng.random(n) < 0.4), pop.peaks[:, 1], pop.peaks[:, 0])
        hour = (peak + 0.5 + rng.normal(0, 0.7, n)) % 24
        cat_w = pop.interest / pop.interest.sum(axis=1, keepdims=True)
        cat = (rng.random(n)[:, None] > np.cumsum(cat_w, axis=1)).sum(axis=1)
        return cls(
            organic=rng.random(n),
            open=rng.random(n),
            click=rng.random(n),
            buy=rng.random(n),
            unsub=rng.random(n),
            dismiss=rng.random(n),
            organic_buy=rng.random(n),
            minute=rng.exponential(25.0, n) + 1.0,
            session_hour=hour,
            view_item=_items_in(pop, np.minimum(cat, pop.interest.shape[1] - 1), rng),
        )


def _items_in(pop: Population, cats: Array, rng: np.random.Generator) -> Array:
    """One item per user in the given category, by popularity."""
    out = np.zeros(len(cats), dtype=np.int64)
    for c in np.unique(cats):
        rows = np.flatnonzero(cats == c)
        pool = np.flatnonzero(pop.item_category == c)
        if len(pool) == 0:
            pool = np.arange(len(pop.item_ids))
        w = pop.item_popularity[pool] / pop.item_popularity[pool].sum()
        out[rows] = rng.choice(pool, size=len(rows), p=w)
    return out


@dataclass(frozen=True)
class Pushes:
    """The pushes a policy sends on one day: parallel arrays (one entry per push)."""

    users: Array
    items: Array
    local_hour: Array
    variants: list[str]
    keys: list[str] = field(default_factory=list)  # dedupe keys of the sends recsvc booked

    @classmethod
    def empty(cls) -> Pushes:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, np.zeros(0), [])


@dataclass(frozen=True)
class Answers:
    """What the pushed users did (parallel to the :class:`Pushes`)."""

    delivered: Array
    opened: Array
    clicked: Array
    bought: Array
    dismissed: Array
    unsubscribed: Array


def open_probability(pop: Population, state: UserState, p: Pushes) -> Array:
    u = p.users
    interest = pop.interest[u, pop.item_category[p.items]]
    fit = pop.hour_fit(u, p.local_hour)
    f = state.fatigue[u] + 1.0
    prob = (
        0.9
        * pop.affinity[u]
        * (0.25 + 0.75 * fit)
        * (0.25 + 0.75 * interest)
        * pop.variant_appeal(p.variants)
        * (0.4 + 0.6 * state.engagement[u])
        * np.exp(-0.25 * (f - 1.0))
    )
    return np.asarray(np.minimum(prob, 0.95))


def answer(pop: Population, state: UserState, p: Pushes, d: DayDraws) -> Answers:
    """The users' answers to today's pushes (a user gets at most one push a day)."""
    u = p.users
    interest = pop.interest[u, pop.item_category[p.items]]
    delivered = pop.reachable[u] & ~state.unsubscribed[u]
    opened = delivered & (d.open[u] < open_probability(pop, state, p))
    clicked = opened & (d.click[u] < 0.3 + 0.6 * interest)
    bought = clicked & (d.buy[u] < 0.08 + 0.3 * interest)
    f = state.fatigue[u] + 1.0
    ignored = delivered & ~opened
    unsub = ignored & (d.unsub[u] < 0.0005 + 0.004 * f * (1.0 - interest))
    dismissed = ignored & ~unsub & (d.dismiss[u] < 0.3)
    return Answers(delivered, opened, clicked, bought, dismissed, unsub)


def organic(pop: Population, state: UserState, d: DayDraws) -> Array:
    """Who opens the app today on their own."""
    return np.asarray(d.organic < pop.organic_rate * state.engagement)


def end_day(pop: Population, state: UserState, day: int, p: Pushes, a: Answers, organic_active: Array) -> None:
    """Book the day's activity, opt-outs, the pushes' effect on engagement, then decay and fatigue."""
    u = p.users
    interest = pop.interest[u, pop.item_category[p.items]]
    active = organic_active.copy()
    active[u[a.opened]] = True
    state.active[day] = active
    state.unsubscribed[u[a.unsubscribed]] = True
    e = state.engagement
    e[u[a.clicked]] += 0.3 * interest[a.clicked] * (1.0 - e[u[a.clicked]])
    only_open = a.opened & ~a.clicked
    e[u[only_open]] += 0.05 * (1.0 - e[u[only_open]])
    state.engagement = e * (1.0 - pop.decay)
    state.fatigue *= np.exp(-1.0 / FATIGUE_HALF_DAYS)
    state.fatigue[u[a.delivered]] += 1.0
