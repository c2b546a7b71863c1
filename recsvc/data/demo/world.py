"""The simulated world every sampler reads: the shop, each user's hidden traits, the local clocks
of the users' time zones and the JSON payloads events refer to by code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from recsvc.data.demo import people
from recsvc.data.demo.catalogue import Catalogue, build_catalogue
from recsvc.data.demo.config import DemoConfig
from recsvc.data.demo.tables import CATEGORIES, DEMO_CITIES

Array = np.ndarray[Any, Any]

DAY = 86400  # seconds
_DAY_PAD = 60  # local days of UTC offsets kept either side of the window


@dataclass
class World:
    """Everything the samplers need, as arrays indexed by user or item."""

    cfg: DemoConfig
    start: int  # epoch seconds of the window start
    shop: Catalogue
    home: people.Home
    kind: people.Kind
    taste: people.Taste
    rhythm: people.Rhythm
    habits: people.Habits
    attitudes: people.Attitudes
    life: people.Lifecycle
    offsets: Array  # (n_zones, days + 2 * day_pad) UTC offset seconds per local day
    day_pad: int
    payloads: list[str] = field(default_factory=list)
    payload_index: dict[str, int] = field(default_factory=dict)
    query_codes: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # (category, locale, k)

    def payload(self, obj: dict[str, Any]) -> int:
        """The code of ``obj``'s JSON text, registering it on first use."""
        text = json.dumps(obj, ensure_ascii=False)
        code = self.payload_index.get(text)
        if code is None:
            code = len(self.payloads)
            self.payloads.append(text)
            self.payload_index[text] = code
        return code


def build_world(cfg: DemoConfig, rng: np.random.Generator) -> tuple[World, pd.DataFrame, pd.DataFrame, Array]:
    """Draw the catalogue, the users and their hidden traits.

    Returns the world, the items and users tables (users without ``signup_ts``) and each user's
    signup second of the local day.
    """
    city_names = list(DEMO_CITIES)
    zones = sorted({c.timezone for c in DEMO_CITIES.values()})
    shop, items = build_catalogue(cfg, rng, city_names)
    n = cfg.n_users
    home = people.draw_home(n, rng, city_names, zones)
    kind = people.draw_kind(n, rng)
    taste = people.draw_taste(n, rng, shop.category_weight)
    rhythm = people.draw_rhythm(n, rng)
    habits = people.draw_habits(n, rng, kind)
    attitudes = people.draw_attitudes(n, rng, kind)
    life = people.draw_lifecycle(n, cfg.days, rng, kind, attitudes)
    users, signup_sec = people.draw_profiles(rng, home, city_names, zones)
    start_dt = cfg.end.astimezone(UTC) - timedelta(days=cfg.days)
    world = World(
        cfg=cfg,
        start=int(start_dt.timestamp()),
        shop=shop,
        home=home,
        kind=kind,
        taste=taste,
        rhythm=rhythm,
        habits=habits,
        attitudes=attitudes,
        life=life,
        offsets=_utc_offsets(start_dt, cfg.days, _DAY_PAD, zones),
        day_pad=_DAY_PAD,
    )
    world.query_codes = _search_queries(world)
    return world, items, users, signup_sec


def _search_queries(w: World) -> Array:
    """Payload codes of the search queries per category and locale: the category word and its nouns."""
    q = np.zeros((len(CATEGORIES), 2, 9), dtype=np.int32)
    for c, spec in enumerate(CATEGORIES):
        for loc in (0, 1):
            words = [spec.name[loc], *(p[loc] for p in spec.nouns)]
            for k, wd in enumerate(words):
                q[c, loc, k] = w.payload({"query": wd.lower() if loc == 0 else wd})
    return q


def _utc_offsets(start: datetime, n_days: int, pad: int, zones: Sequence[str]) -> Array:
    """UTC offset (seconds) at local noon of every local day, per zone; DST-aware via zoneinfo."""
    out = np.zeros((len(zones), n_days + 2 * pad), dtype=np.int64)
    d0: date = (start - timedelta(days=pad)).date()
    for z, name in enumerate(zones):
        tz = ZoneInfo(name)
        for j in range(out.shape[1]):
            local = datetime.combine(d0 + timedelta(days=j), datetime.min.time()).replace(hour=12, tzinfo=tz)
            off = local.utcoffset()
            out[z, j] = int(off.total_seconds()) if off is not None else 0
    return out


def local_seconds(w: World, users: Array, rng: np.random.Generator) -> Array:
    """Seconds into the local day, clustered around the user's peak hours."""
    r = w.rhythm
    n = len(users)
    on_peak = rng.random(n) < r.peak_share[users]
    second = (r.n_peaks[users] == 2) & (rng.random(n) < 0.4)
    peak = np.where(second, r.peak2[users], r.peak1[users])
    h_peak = peak + 0.5 + rng.normal(0, 0.6, n)
    h_bg = rng.uniform(7, 24.5, n)
    h = np.where(on_peak, h_peak, h_bg) % 24
    return (h * 3600).astype(np.int64)


def to_utc(w: World, users: Array, day: Array, local_sec: Array) -> Array:
    """Epoch seconds of ``local_sec`` on the user's local day ``day`` (days from the window start)."""
    di = np.clip(day.astype(np.int64) + w.day_pad, 0, w.offsets.shape[1] - 1)
    off = w.offsets[w.home.tz[users], di]
    return w.start + day.astype(np.int64) * DAY + local_sec.astype(np.int64) - off


def hour_match(w: World, users: Array, hour: Array) -> Array:
    """1 when ``hour`` sits in a peak hour of the user, falling off over about two hours."""
    best = np.full(len(users), 12.0)
    for peak in (w.rhythm.peak1[users], w.rhythm.peak2[users]):
        d = np.abs(((hour - (peak + 0.5)) + 12) % 24 - 12)
        best = np.minimum(best, d)
    return np.exp(-(best**2) / (2 * 1.3**2))
