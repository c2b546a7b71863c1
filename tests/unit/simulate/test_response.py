"""The hidden response model: the properties a policy can exploit, and its seeding."""

from __future__ import annotations

import numpy as np

from recsvc.simulate.response import (
    DayDraws,
    Population,
    Pushes,
    UserState,
    answer,
    end_day,
    open_probability,
)


def _pushes(pop: Population, users: np.ndarray, hour: np.ndarray, *, favourite: bool, variant: str = "") -> Pushes:
    """One push per user of an item in (or far from) the user's favourite category."""
    cats = pop.interest[users].argmax(axis=1) if favourite else pop.interest[users].argmin(axis=1)
    items = np.array([np.flatnonzero(pop.item_category == c)[0] for c in cats])
    return Pushes(users, items, hour, [variant] * len(users))


def _with_items_in_every_category(pop: Population) -> np.ndarray:
    have = set(pop.item_category.tolist())
    ok = [u for u in range(pop.n) if pop.interest[u].argmax() in have and pop.interest[u].argmin() in have]
    return np.array(ok)


def test_fatigue_lowers_the_chance_to_open(population: Population) -> None:
    users = _with_items_in_every_category(population)
    p = _pushes(population, users, population.peaks[users, 0] + 0.5, favourite=True)
    fresh = UserState.start(population, 1)
    tired = UserState.start(population, 1)
    tired.fatigue[:] = 3.0
    assert np.all(open_probability(population, tired, p) < open_probability(population, fresh, p))


def test_hour_fit_matters(population: Population) -> None:
    users = _with_items_in_every_category(population)
    one_peak = users[population.peaks[users, 1] < 0]
    assert len(one_peak) > 10
    peak = population.peaks[one_peak, 0] + 0.5
    state = UserState.start(population, 1)
    on = open_probability(population, state, _pushes(population, one_peak, peak, favourite=True))
    off = open_probability(population, state, _pushes(population, one_peak, (peak + 12) % 24, favourite=True))
    assert np.all(on > 2 * off)


def test_interest_and_variant_appeal_matter(population: Population) -> None:
    users = _with_items_in_every_category(population)
    hour = population.peaks[users, 0] + 0.5
    state = UserState.start(population, 1)
    liked = open_probability(population, state, _pushes(population, users, hour, favourite=True))
    other = open_probability(population, state, _pushes(population, users, hour, favourite=False))
    assert np.all(liked > other)
    best = max(population.appeal, key=lambda v: population.appeal[v])
    worst = min(population.appeal, key=lambda v: population.appeal[v])
    hi = open_probability(population, state, _pushes(population, users, hour, favourite=True, variant=best))
    lo = open_probability(population, state, _pushes(population, users, hour, favourite=True, variant=worst))
    assert np.all(hi[hi < 0.95] > lo[hi < 0.95])


def test_daily_pushes_of_irrelevant_items_cause_more_unsubscribes_than_rare_relevant_ones(
    population: Population,
) -> None:
    users = _with_items_in_every_category(population)
    hour = population.peaks[users, 0] + 0.5
    unsubs = {}
    for name, favourite, every in (("spam", False, 1), ("relevant", True, 3)):
        state = UserState.start(population, 30)
        total = 0
        for day in range(30):
            d = DayDraws.draw(population, 11, day)
            p = _pushes(population, users, hour, favourite=favourite) if day % every == 0 else Pushes.empty()
            a = answer(population, state, p, d)
            total += int(a.unsubscribed.sum())
            end_day(population, state, day, p, a, np.zeros(population.n, dtype=bool))
        unsubs[name] = total
    assert unsubs["spam"] > unsubs["relevant"]


def test_draws_are_deterministic_with_the_seed(population: Population) -> None:
    a, b, c = DayDraws.draw(population, 5, 2), DayDraws.draw(population, 5, 2), DayDraws.draw(population, 6, 2)
    assert np.array_equal(a.open, b.open) and np.array_equal(a.view_item, b.view_item)
    assert not np.array_equal(a.open, c.open)


def test_clicks_raise_engagement(population: Population) -> None:
    users = _with_items_in_every_category(population)
    hour = population.peaks[users, 0] + 0.5
    pushed, idle = UserState.start(population, 10), UserState.start(population, 10)
    for day in range(10):
        d = DayDraws.draw(population, 1, day)
        p = _pushes(population, users, hour, favourite=True)
        a = answer(population, pushed, p, d)
        end_day(population, pushed, day, p, a, np.zeros(population.n, dtype=bool))
        none = Pushes.empty()
        end_day(population, idle, day, none, answer(population, idle, none, d), np.zeros(population.n, dtype=bool))
    assert pushed.engagement[users].mean() > idle.engagement[users].mean()
