"""The demo shop: items with bilingual titles and descriptions, prices, stock, media, tags and
local-delivery limits, plus the Zipf-like popularity the simulator picks items by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.demo.config import DemoConfig
from recsvc.data.demo.tables import ADJECTIVES, BRANDS, CATEGORIES, DEMO_CITIES, TAG_P, TAGS

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Catalogue:
    """The per-item and per-category arrays the samplers index."""

    category: Array  # index into CATEGORIES, per item
    price: Array
    in_stock: Array
    sellable: Array  # (n_items, n_cities): can be sold in that city
    members: list[Array]  # item indices of each category
    cdf: list[Array]  # cumulative popularity over each category's members
    popularity: Array  # within-category popularity weight, per item
    category_weight: Array  # share of browsing per category (sums to 1)
    cycle_days: Array  # repurchase cycle per category; 0 = not a consumable


@dataclass(frozen=True)
class _ItemDraws:
    """The random choices behind each item (indices into the word tables, flags, prices)."""

    category: Array
    brand: Array
    adjective: Array
    noun: Array
    variant: Array
    price: Array
    in_stock: Array
    has_video: Array
    has_audio: Array
    limited: Array  # sold only in a few Chinese cities
    n_cities: Array  # how many, when limited
    city_order: Array  # (n_items, n_cn_cities): a shuffled list of Chinese city indices per item
    tags: Array  # (n_items, len(TAGS)) bool


def ids(prefix: str, n: int) -> list[str]:
    """``prefix`` plus a zero-padded 1-based counter: ``u00001``, ``i00001``..."""
    width = max(5, len(str(n)))
    return [f"{prefix}{k:0{width}d}" for k in range(1, n + 1)]


def build_catalogue(
    cfg: DemoConfig, rng: np.random.Generator, city_names: Sequence[str]
) -> tuple[Catalogue, pd.DataFrame]:
    """Draw the shop; returns the arrays the samplers use and the ``items.csv`` rows."""
    draws = _draw_items(cfg.n_items, rng, city_names)
    sellable, chosen = _local_delivery(draws, len(city_names))
    frame = _items_frame(draws, chosen, city_names)
    members, cdf, popularity = _popularity(draws.category, cfg.n_items, rng)
    weight = np.array([c.weight for c in CATEGORIES])
    shop = Catalogue(
        category=draws.category,
        price=draws.price,
        in_stock=draws.in_stock,
        sellable=sellable,
        members=members,
        cdf=cdf,
        popularity=popularity,
        category_weight=weight / weight.sum(),
        cycle_days=np.array([c.cycle_days for c in CATEGORIES]),
    )
    return shop, frame


def _draw_items(n: int, rng: np.random.Generator, city_names: Sequence[str]) -> _ItemDraws:
    """Every category at least once, the rest by category weight; then words, price and flags."""
    n_cat = len(CATEGORIES)
    cw = np.array([c.weight for c in CATEGORIES])
    cat = np.concatenate([np.arange(n_cat), rng.choice(n_cat, n - n_cat, p=cw / cw.sum())])
    rng.shuffle(cat)
    brand = rng.integers(len(BRANDS), size=n)
    adj = rng.integers(len(ADJECTIVES), size=n)
    noun = rng.integers(8, size=n)  # every category has 8 nouns and 6 variants
    var = rng.integers(6, size=n)
    median = np.array([c.median_price for c in CATEGORIES])[cat]
    price = np.exp(np.log(median) + rng.normal(0, 0.45, n))
    price = np.maximum(np.floor(price) + 0.9, 1.9).round(2)
    in_stock = rng.random(n) < 0.93
    has_video = rng.random(n) < 0.25
    is_books = cat == next(i for i, c in enumerate(CATEGORIES) if c.key == "books")
    has_audio = rng.random(n) < np.where(is_books, 0.4, 0.02)
    fresh = np.isin(cat, [i for i, c in enumerate(CATEGORIES) if c.key in ("snacks", "coffee_tea")])
    limited = rng.random(n) < np.where(fresh, 0.3, 0.1)
    cn_cities = [i for i, name in enumerate(city_names) if DEMO_CITIES[name].country == "CN"]
    n_cities = rng.integers(1, 4, size=n)
    city_order = rng.permuted(np.tile(np.array(cn_cities), (n, 1)), axis=1)
    tags = rng.random((n, len(TAGS))) < np.array(TAG_P)
    return _ItemDraws(
        category=cat,
        brand=brand,
        adjective=adj,
        noun=noun,
        variant=var,
        price=price,
        in_stock=in_stock,
        has_video=has_video,
        has_audio=has_audio,
        limited=limited,
        n_cities=n_cities,
        city_order=city_order,
        tags=tags,
    )


def _local_delivery(d: _ItemDraws, n_cities: int) -> tuple[Array, list[list[int]]]:
    """Where each item can be sold: everywhere, or (limited items) only in its chosen cities."""
    n = len(d.category)
    sellable = np.ones((n, n_cities), dtype=bool)
    chosen: list[list[int]] = [[] for _ in range(n)]
    for i in np.flatnonzero(d.limited):
        chosen[i] = sorted(d.city_order[i, : d.n_cities[i]].tolist())
        sellable[i] = False
        sellable[i, chosen[i]] = True
    return sellable, chosen


def _item_texts(d: _ItemDraws, i: int, chosen: list[int], city_names: Sequence[str]) -> tuple[str, ...]:
    """Title, zh title, description, zh description and tags of item ``i``."""
    c = CATEGORIES[d.category[i]]
    b, a = BRANDS[d.brand[i]], ADJECTIVES[d.adjective[i]]
    no, v = c.nouns[d.noun[i]], c.variants[d.variant[i]]
    where = ""
    where_zh = ""
    if chosen:
        where = f" Same-day delivery in {', '.join(city_names[j] for j in chosen)} only."
        where_zh = f"仅限{'、'.join(DEMO_CITIES[city_names[j]].name_zh for j in chosen)}当日达。"
    return (
        f"{b[0]} {a[0]} {no[0]}, {v[0]}",
        f"{b[1]}{a[1]}{no[1]} {v[1]}",
        f"{a[0]} {no[0].lower()} by {b[0]} ({v[0]}), from our {c.name[0].lower()} range.{where}",
        f"{b[1]}{a[1]}{no[1]}（{v[1]}），{c.name[1]}精选。{where_zh}",
        "|".join([c.key, *(t for t, on in zip(TAGS, d.tags[i], strict=True) if on)]),
    )


def _items_frame(d: _ItemDraws, chosen: list[list[int]], city_names: Sequence[str]) -> pd.DataFrame:
    """The ``items.csv`` rows."""
    n = len(d.category)
    texts = [_item_texts(d, i, chosen[i], city_names) for i in range(n)]
    title, title_zh, desc, desc_zh, tags = (list(col) for col in zip(*texts, strict=True))
    cities = np.array(["|".join(city_names[j] for j in c) for c in chosen], dtype=object)
    item_ids = ids("i", n)
    return pd.DataFrame(
        {
            "item_id": item_ids,
            "title": title,
            "title_zh": title_zh,
            "description": desc,
            "description_zh": desc_zh,
            "category": [CATEGORIES[k].key for k in d.category],
            "price": d.price,
            "currency": "CNY",
            "image_url": [f"https://cdn.example.com/img/{i}.jpg" for i in item_ids],
            "video_url": _media_urls(item_ids, d.has_video, "video", "mp4"),
            "audio_url": _media_urls(item_ids, d.has_audio, "audio", "mp3"),
            "in_stock": d.in_stock,
            "cities": cities.astype(str),
            "tags": tags,
        }
    )


def _media_urls(item_ids: list[str], has: Array, kind: str, ext: str) -> list[str]:
    return [f"https://cdn.example.com/{kind}/{i}.{ext}" if h else "" for i, h in zip(item_ids, has, strict=True)]


def _popularity(category: Array, n_items: int, rng: np.random.Generator) -> tuple[list[Array], list[Array], Array]:
    """Zipf-like popularity inside each category: (members, cumulative weights, weight per item)."""
    members: list[Array] = []
    cdf: list[Array] = []
    popularity = np.zeros(n_items)
    for c in range(len(CATEGORIES)):
        m = np.flatnonzero(category == c)
        rank = rng.permutation(len(m))
        w = 1.0 / (rank + 1.0) ** 1.05
        popularity[m] = w
        members.append(m)
        cdf.append(np.cumsum(w) / w.sum())
    return members, cdf, popularity
