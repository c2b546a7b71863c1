"""App sessions of the demo: how many a user has each day, and the events inside one (open,
search, views, carts, purchases, removals, locations), plus repurchases of consumables and the
feedback after purchases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recsvc.data.demo.events import EventParts
from recsvc.data.demo.tables import CATEGORIES, DEMO_CITIES
from recsvc.data.demo.world import DAY, World, local_seconds, to_utc

Array = np.ndarray[Any, Any]

Purchases = tuple[Array, Array, Array]  # (user, epoch second, item)


def activity_matrix(w: World, rng: np.random.Generator) -> tuple[Array, Array]:
    """Daily session counts (users x days) and the engagement level behind them."""
    n, days = w.cfg.n_users, w.cfg.days
    d = np.arange(days, dtype=np.float64)[None, :] + 0.5
    eng, since = _engagement(w, d, rng)
    boost = 1.0 + np.exp(-np.clip(since, 0, None) / 5.0)  # onboarding burst
    drift = np.exp(rng.normal(0, 0.5, n)[:, None] * (d - days / 2) / max(days, 1))
    activity = np.array([1.3, 0.4, 0.1])[w.kind.activity] * np.exp(rng.normal(0, 0.35, n))
    start_wd = datetime.fromtimestamp(w.start, UTC).weekday()
    wd = (start_wd + np.arange(days)) % 7
    daily = np.where(wd >= 5, 1.2, 1.0)
    if days >= 10:
        daily[int(days * 0.6)] *= 1.8  # one site-wide sale day
    pause = _breaks(n, days, d, rng)
    rate = (eng * pause * boost * drift * daily[None, :] * activity[:, None]).astype(np.float32)
    rate *= rng.gamma(3.0, 1.0 / 3.0, size=rate.shape).astype(np.float32)
    counts = rng.poisson(rate).astype(np.int32)
    sd = np.floor(w.life.signup_day).astype(np.int64)
    inwin = (sd >= 0) & (sd < days)
    counts[inwin.nonzero()[0], sd[inwin]] = 0  # the signup day gets one onboarding session instead
    return counts, eng.astype(np.float32)


def _engagement(w: World, d: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """Engagement per user and day (ramping down in the weeks before churn, a ghost of it after
    churn unless uninstalled, zero before signup) and the days since signup."""
    n = w.cfg.n_users
    tau = w.life.churn_day[:, None]
    ramp_len = rng.uniform(7, 28, n)[:, None]
    ramp = np.clip((tau - d) / ramp_len, 0.0, 1.0)
    ghost = np.where(w.life.uninstalled, 0.0, 0.02)[:, None]
    eng = np.where(d < tau, 0.15 + 0.85 * ramp, ghost)
    since = d - w.life.signup_day[:, None]
    return np.where(since < 0, 0.0, eng), since


def _breaks(n: int, days: int, d: Array, rng: np.random.Generator) -> Array:
    """Activity factor of a break per user and day (0.05 during it, else 1).

    A third of users take a break (travel, exams, a busy month) and come back: silence that is
    not churn; they still glance at pushes, so push engagement tells a break from a departure.
    """
    on_break = rng.random(n) < 0.35
    b0 = rng.uniform(-10, days, n)
    b1 = b0 + rng.uniform(7, 25, n)
    return np.where(on_break[:, None] & (d >= b0[:, None]) & (d < b1[:, None]), 0.05, 1.0)


def run_sessions(
    w: World, parts: EventParts, s_user: Array, s_t: Array, s_item: Array, s_buy: Array, rng: np.random.Generator
) -> Purchases:
    """Turn sessions into events; returns the purchases.

    A session with ``s_item >= 0`` starts on that item (a clicked message, a repurchase) and,
    where ``s_buy`` is set, almost surely buys it.
    """
    n = len(s_user)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    parts.add("app_open", s_user, s_t)
    s_cat, searched = _open_and_search(w, parts, s_user, s_t, s_item, rng)
    views = _views(w, parts, s_user, s_t, s_item, s_cat, searched, rng)
    bought = _carts_and_purchases(w, parts, views, s_buy, rng)
    _locations(w, parts, s_user, s_t, rng)
    return bought


def _open_and_search(
    w: World, parts: EventParts, s_user: Array, s_t: Array, s_item: Array, rng: np.random.Generator
) -> tuple[Array, Array]:
    """Pick each session's category (a favourite 70% of the time, else by weight; the item's own
    for a forced item) and let some sessions search for it; returns (category, searched)."""
    n = len(s_user)
    forced = s_item >= 0
    pick_pref = rng.random(n) < 0.7
    j = (rng.random(n) * w.taste.n_prefs[s_user]).astype(np.int64)
    s_cat = np.where(pick_pref, w.taste.prefs[s_user, j], rng.choice(len(w.shop.members), n, p=w.shop.category_weight))
    s_cat = np.where(forced, w.shop.category[np.maximum(s_item, 0)], s_cat)
    searched = (rng.random(n) < w.habits.p_search[s_user]) & ~forced
    qk = rng.integers(w.query_codes.shape[2], size=n)
    sq = searched.nonzero()[0]
    parts.add(
        "search",
        s_user[sq],
        s_t[sq] + rng.integers(5, 40, len(sq)),
        payload=w.query_codes[s_cat[sq], w.home.locale[s_user[sq]], qk[sq]],
    )
    return s_cat, searched


@dataclass(frozen=True)
class _Views:
    """One row per view event."""

    session: Array  # index of the session it belongs to
    t: Array
    item: Array
    user: Array
    first_forced: Array  # the session's forced item, viewed first


def _views(
    w: World,
    parts: EventParts,
    s_user: Array,
    s_t: Array,
    s_item: Array,
    s_cat: Array,
    searched: Array,
    rng: np.random.Generator,
) -> _Views:
    """A few views per session, mostly in its category, of items sold in the user's city."""
    n = len(s_user)
    forced = s_item >= 0
    nv = 1 + rng.poisson(w.habits.view_rate[s_user])
    vi = np.repeat(np.arange(n), nv)
    pos = np.arange(len(vi)) - np.repeat(np.cumsum(nv) - nv, nv)
    gaps = rng.exponential(40.0, len(vi)) + 5
    tv = s_t[vi] + 20 + 40 * searched[vi] + _within(gaps, nv).astype(np.int64)
    vcat = s_cat[vi]
    switch = (pos > 0) & (rng.random(len(vi)) < 0.2)
    vcat = np.where(switch, rng.choice(len(w.shop.members), len(vi), p=w.shop.category_weight), vcat)
    item = _sample_category_items(w, vcat, rng)
    first_forced = (pos == 0) & forced[vi]
    item = np.where(first_forced, s_item[vi], item)
    vu = s_user[vi]
    keep = w.shop.sellable[item, w.home.city[vu]] | first_forced
    views = _Views(session=vi[keep], t=tv[keep], item=item[keep], user=vu[keep], first_forced=first_forced[keep])
    parts.add("view", views.user, views.t, item=views.item)
    return views


def _carts_and_purchases(w: World, parts: EventParts, v: _Views, s_buy: Array, rng: np.random.Generator) -> Purchases:
    """Carts by segment and price sensitivity (never out of stock), purchases of some carts and
    removals of some of the rest; returns the purchases."""
    median = np.array([c.median_price for c in CATEGORIES])[w.shop.category[v.item]]
    factor = np.clip((w.shop.price[v.item] / median) ** (-w.habits.price_sensitivity[v.user]), 0.25, 2.5)
    buy_forced = v.first_forced & s_buy[v.session]
    pc = np.where(buy_forced, 0.92, w.habits.cart_rate[v.user] * factor) * w.shop.in_stock[v.item]
    carted = rng.random(len(v.session)) < pc
    ci = carted.nonzero()[0]
    cu, citem = v.user[ci], v.item[ci]
    tc = v.t[ci] + rng.integers(15, 120, len(ci))
    parts.add("add_to_cart", cu, tc, item=citem, qty=1.0)
    pb = np.where(buy_forced[ci], 0.9, w.habits.p_buy[cu])
    bought = rng.random(len(ci)) < pb
    consumable = w.shop.cycle_days[w.shop.category[citem]] > 0
    qty = np.where(consumable, np.minimum(rng.geometric(0.6, len(ci)), 6), 1 + (rng.random(len(ci)) < 0.07))
    tp = tc + rng.integers(60, 900, len(ci))
    bi = bought.nonzero()[0]
    parts.add(
        "purchase",
        cu[bi],
        tp[bi],
        item=citem[bi],
        qty=qty[bi].astype(np.float64),
        value=np.round(w.shop.price[citem[bi]] * qty[bi], 2),
    )
    ri = (~bought & (rng.random(len(ci)) < 0.3)).nonzero()[0]
    parts.add("remove_from_cart", cu[ri], tc[ri] + rng.integers(30, 900, len(ri)), item=citem[ri], qty=1.0)
    return cu[bi], tp[bi], citem[bi]


def _locations(w: World, parts: EventParts, s_user: Array, s_t: Array, rng: np.random.Generator) -> None:
    """``geo_enter`` near the user's city for some sessions; now and then while travelling."""
    gi = (rng.random(len(s_user)) < w.habits.p_geo[s_user]).nonzero()[0]
    gu = s_user[gi]
    travel = rng.random(len(gi)) < 0.05
    gcity = np.where(travel, rng.integers(len(DEMO_CITIES), size=len(gi)), w.home.city[gu]).astype(np.int16)
    lat = np.array([c.lat for c in DEMO_CITIES.values()])[gcity] + rng.normal(0, 0.04, len(gi))
    lon = np.array([c.lon for c in DEMO_CITIES.values()])[gcity] + rng.normal(0, 0.04, len(gi))
    parts.add(
        "geo_enter",
        gu,
        s_t[gi] + rng.integers(5, 600, len(gi)),
        lat=lat.round(5),
        lon=lon.round(5),
        city=gcity,
    )


def _sample_category_items(w: World, cats: Array, rng: np.random.Generator) -> Array:
    """One item per draw, Zipf-popular within the given category."""
    out = np.empty(len(cats), dtype=np.int32)
    u = rng.random(len(cats))
    for c, members in enumerate(w.shop.members):
        m = cats == c
        if m.any():
            out[m] = members[np.minimum(np.searchsorted(w.shop.cdf[c], u[m]), len(members) - 1)]
    return out


def _within(gaps: Array, counts: Array) -> Array:
    """Cumulative sum of ``gaps`` restarted at every group (consecutive groups of sizes ``counts``)."""
    cs = np.cumsum(gaps)
    nz = counts > 0
    first = (np.cumsum(counts) - counts)[nz]
    return cs - np.repeat(cs[first] - gaps[first], counts[nz])


def repurchases(w: World, parts: EventParts, first: Purchases, rng: np.random.Generator) -> list[Purchases]:
    """Consumables come back one cycle later while the user is still around; each return visit
    is a session starting on (and likely buying) the item. Returns ``first`` and every later round."""
    days = w.cfg.days
    p_user, p_t, p_item = first
    rounds = [first]
    for _ in range(64):
        cyc = w.shop.cycle_days[w.shop.category[p_item]]
        again = (cyc > 0) & (rng.random(len(p_user)) < w.habits.repurchase[p_user])
        nxt = np.floor((p_t - w.start) / DAY + cyc * rng.gamma(6.0, 1.0 / 6.0, len(p_user))).astype(np.int64)
        again &= (nxt < days) & (nxt + 0.5 < w.life.churn_day[p_user])
        ri = again.nonzero()[0]
        if len(ri) == 0:
            break
        ru = p_user[ri]
        rt = to_utc(w, ru, nxt[ri], local_seconds(w, ru, rng))
        p_user, p_t, p_item = run_sessions(w, parts, ru, rt, p_item[ri], np.ones(len(ri), dtype=bool), rng)
        rounds.append((p_user, p_t, p_item))
    return rounds


def feedback(w: World, parts: EventParts, purchases: list[Purchases], rng: np.random.Generator) -> None:
    """A rating a few days after some purchases, from users still around; higher when satisfied."""
    fu = np.concatenate([a[0] for a in purchases])
    ft = np.concatenate([a[1] for a in purchases])
    fi = np.concatenate([a[2] for a in purchases])
    pick = (rng.random(len(fu)) < 0.12).nonzero()[0]
    fu, ft, fi = fu[pick], ft[pick], fi[pick]
    fday = np.floor((ft - w.start) / DAY + 2 + rng.gamma(2.0, 1.5, len(fu))).astype(np.int64)
    ok = fday + 0.5 < w.life.churn_day[fu]
    fu, fi, fday = fu[ok], fi[ok], fday[ok]
    sat = w.attitudes.satisfaction[fu]
    rating = np.clip(np.round(3.9 + 0.7 * sat + rng.normal(0, 0.9, len(fu))), 1, 5).astype(int)
    codes = np.array([w.payload({"rating": r}) for r in range(1, 6)], dtype=np.int32)
    parts.add("feedback", fu, to_utc(w, fu, fday, local_seconds(w, fu, rng)), item=fi, payload=codes[rating - 1])
