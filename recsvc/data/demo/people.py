"""The demo's users: where they live, their hidden traits and lifecycle, and the profile the app
sees (``users.csv``).

Each group of traits is one frozen dataclass of per-user arrays, drawn by one function. The draws
happen in a fixed order from one generator (home, kind, taste, rhythm, habits, attitudes,
lifecycle, profile); reordering them changes every generated demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.demo.catalogue import ids
from recsvc.data.demo.tables import ACTIVITY, DEMO_CITIES, NAMES_EN, NAMES_ZH, PEAK_P, PEAKS, QUIET_HOURS, SEGMENTS
from recsvc.vocabulary import LOCALES

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Home:
    """Where each user lives."""

    city: Array  # index into DEMO_CITIES
    tz: Array  # index into the sorted list of the cities' zones
    locale: Array  # 0 en-US, 1 zh-CN
    in_china: Array


@dataclass(frozen=True)
class Kind:
    """How much each user uses the app and how they shop."""

    activity: Array  # index into ACTIVITY (heavy, regular, light)
    segment: Array  # index into SEGMENTS (browser, abandoner, buyer, loyal)


@dataclass(frozen=True)
class Taste:
    """Favourite categories: ``prefs[u, :n_prefs[u]]``, best first."""

    prefs: Array  # (n_users, 3)
    n_prefs: Array


@dataclass(frozen=True)
class Rhythm:
    """One or two peak hours of the local day around which sessions cluster."""

    peak1: Array
    peak2: Array  # equals peak1 when the user has one peak
    n_peaks: Array
    peak_share: Array  # share of sessions near a peak (the rest spread over the waking day)


@dataclass(frozen=True)
class Habits:
    """What a user does in a session."""

    price_sensitivity: Array
    cart_rate: Array  # chance a viewed item goes to the cart, before the price effect
    p_buy: Array  # chance a cart is bought
    p_search: Array
    p_geo: Array  # chance a session reports a location
    view_rate: Array  # extra views per session (Poisson mean)
    repurchase: Array  # chance a consumable is bought again one cycle later


@dataclass(frozen=True)
class Attitudes:
    """Latent standard-normal leanings: towards pushes, towards email, and overall satisfaction."""

    push_affinity: Array
    email_affinity: Array
    satisfaction: Array


@dataclass(frozen=True)
class Lifecycle:
    """Signup and churn, in days relative to the window start."""

    signup_day: Array  # negative: signed up before the window
    churn_day: Array
    uninstalled: Array  # after churning; pushes stop being delivered


def draw_home(n: int, rng: np.random.Generator, city_names: Sequence[str], zones: Sequence[str]) -> Home:
    """City by population weight; locale mostly zh-CN in China, mixed elsewhere."""
    cw = np.array([c.weight for c in DEMO_CITIES.values()])
    city = rng.choice(len(city_names), size=n, p=cw / cw.sum())
    cn = np.array([DEMO_CITIES[c].country == "CN" for c in city_names])[city]
    locale = rng.random(n) < np.where(cn, 0.93, np.where(np.array(city_names)[city] == "Singapore", 0.5, 0.3))
    tz_index = {z: i for i, z in enumerate(zones)}
    user_tz = np.array([tz_index[DEMO_CITIES[c].timezone] for c in city_names])[city]
    return Home(city=city.astype(np.int16), tz=user_tz, locale=locale.astype(np.int8), in_china=cn)


def draw_kind(n: int, rng: np.random.Generator) -> Kind:
    """Activity level, then a shopping segment that leans on it (heavy users buy more)."""
    activity = rng.choice(3, size=n, p=[0.15, 0.40, 0.45])
    seg_p = np.array([[0.15, 0.20, 0.35, 0.30], [0.25, 0.20, 0.40, 0.15], [0.45, 0.20, 0.30, 0.05]])
    u = rng.random(n)[:, None]
    segment = (u > np.cumsum(seg_p[activity], axis=1)).sum(axis=1)
    return Kind(activity=activity, segment=np.minimum(segment, 3))


def draw_taste(n: int, rng: np.random.Generator, category_weight: Array) -> Taste:
    """1-3 favourite categories, sampled without replacement by category weight (Gumbel top-k)."""
    keys = np.log(category_weight)[None, :] + rng.gumbel(size=(n, len(category_weight)))
    prefs = np.argsort(-keys, axis=1)[:, :3]
    n_prefs = rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25])
    return Taste(prefs=prefs, n_prefs=n_prefs)


def draw_rhythm(n: int, rng: np.random.Generator) -> Rhythm:
    """A first peak hour; about half of the users whose second draw is 3+ hours away keep it too."""
    peak1 = rng.choice(PEAKS, size=n, p=PEAK_P)
    second = rng.choice(PEAKS, size=n, p=PEAK_P)
    far = np.abs(((second - peak1) + 12) % 24 - 12) >= 3
    n_peaks = np.where(far & (rng.random(n) < 0.55), 2, 1)
    peak2 = np.where(n_peaks == 2, second, peak1)
    return Rhythm(peak1=peak1, peak2=peak2, n_peaks=n_peaks, peak_share=rng.uniform(0.6, 0.85, n))


def draw_habits(n: int, rng: np.random.Generator, kind: Kind) -> Habits:
    """Session behaviour by segment and activity, with per-user log-normal noise."""
    segment = kind.segment
    sens = np.exp(rng.normal(np.log(0.8), 0.5, n))
    cart_rate = np.array([0.03, 0.18, 0.12, 0.14])[segment] * np.exp(rng.normal(0, 0.3, n))
    p_buy = np.array([0.0, 0.06, 0.45, 0.62])[segment] * np.exp(rng.normal(0, 0.2, n))
    p_buy = np.clip(p_buy, 0, 0.95)
    p_search = np.clip(np.array([0.35, 0.25, 0.2, 0.15])[segment] * np.exp(rng.normal(0, 0.3, n)), 0, 0.9)
    p_geo = np.where(rng.random(n) < 0.6, 0.1, 0.0)
    view_rate = np.array([2.6, 1.8, 1.2])[kind.activity] * np.exp(rng.normal(0, 0.25, n))
    return Habits(
        price_sensitivity=sens,
        cart_rate=cart_rate,
        p_buy=p_buy,
        p_search=p_search,
        p_geo=p_geo,
        view_rate=view_rate,
        repurchase=np.array([0.0, 0.1, 0.35, 0.75])[segment],
    )


def draw_attitudes(n: int, rng: np.random.Generator, kind: Kind) -> Attitudes:
    """Heavy users lean a little towards pushes, light users away from them."""
    paff = rng.normal(0, 1, n) + np.array([0.3, 0.0, -0.2])[kind.activity]
    eaff = rng.normal(0, 1, n)
    sat = rng.normal(0, 1, n)
    return Attitudes(push_affinity=paff, email_affinity=eaff, satisfaction=sat)


def draw_lifecycle(n: int, days: int, rng: np.random.Generator, kind: Kind, att: Attitudes) -> Lifecycle:
    """Signup (60% before the window) and a Weibull churn time with a rising hazard.

    Heavy, loyal, push-engaged and satisfied users last longer; recent signups shorter, and a
    share of in-window signups drop out within days.
    """
    pre = rng.random(n) < 0.6
    signup_day = np.where(pre, -rng.uniform(1, 365, n), rng.uniform(0, days, n))
    act0 = np.maximum(signup_day, 0.0)
    log_scale = (
        np.log(130)
        + np.array([0.35, 0.0, -0.35])[kind.activity]
        + np.array([-0.25, -0.1, 0.2, 0.5])[kind.segment]
        + 0.35 * att.push_affinity
        + 0.3 * att.satisfaction
        - 0.4 * (signup_day > -30)
        + rng.normal(0, 0.45, n)
    )
    tau = act0 + np.exp(log_scale) * rng.weibull(1.5, n)
    quick = (~pre) & (rng.random(n) < 0.3)  # signups that never get going
    tau = np.where(quick, act0 + rng.exponential(5.0, n), tau)
    return Lifecycle(signup_day=signup_day, churn_day=tau, uninstalled=rng.random(n) < 0.5)


def draw_profiles(
    rng: np.random.Generator, home: Home, city_names: Sequence[str], zones: Sequence[str]
) -> tuple[pd.DataFrame, Array]:
    """What the app knows about each user (``users.csv`` without ``signup_ts``), and the local
    second of the signup day each user signed up at."""
    n = len(home.city)
    city, cn = home.city, home.in_china
    names = np.where(
        home.locale == 1,
        rng.choice(np.array(NAMES_ZH, dtype=object), n),
        rng.choice(np.array(NAMES_EN, dtype=object), n),
    )
    push_in = rng.random(n) < np.where(cn, 0.82, 0.7)
    sms_in = rng.random(n) < np.where(cn, 0.35, 0.15)
    email_in = rng.random(n) < np.where(cn, 0.4, 0.6)
    quiet = np.where(rng.random(n) < 0.3, rng.choice(np.array(QUIET_HOURS, dtype=object), n), "")
    signup_sec = rng.uniform(9 * 3600, 23 * 3600, n)  # signups happen while awake (approximately)
    users = pd.DataFrame(
        {
            "user_id": ids("u", n),
            "city": np.array(city_names, dtype=object)[city],
            "timezone": np.array(zones, dtype=object)[home.tz],
            "locale": np.array(LOCALES, dtype=object)[home.locale],
            "country": np.array([DEMO_CITIES[c].country for c in city_names], dtype=object)[city],
            "push_opt_in": push_in,
            "sms_opt_in": sms_in,
            "email_opt_in": email_in,
            "quiet_hours": quiet,
            "first_name": names,
        }
    )
    return users, signup_sec


def hidden_labels(kind: Kind) -> tuple[Array, Array]:
    """The activity and segment names of each user (for the hidden truth)."""
    return np.array(ACTIVITY, dtype=object)[kind.activity], np.array(SEGMENTS, dtype=object)[kind.segment]
