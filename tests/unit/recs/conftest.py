"""Shared fixtures: the real MiniLM encoder (loaded once), a small seeded catalog and log, and one
recommender trained on them (once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.training import train_recs

CUTOFF = pd.Timestamp("2026-03-17", tz="UTC")  # day 75 of the 90-day log
CFG = RecsConfig(label_days=20, n_estimators=60, ranker_grid=((7, 20), (15, 20)), min_data_in_leaf=20)

CATEGORIES = {
    "coffee": [
        "Espresso beans",
        "Cold brew coffee",
        "Decaf ground coffee",
        "Coffee grinder",
        "Milk frother",
        "Pour-over kettle",
        "Arabica single origin",
        "Coffee filters",
        "Latte mugs",
        "Moka pot",
    ],
    "running": [
        "Running shoes",
        "Trail running shoes",
        "Sports socks",
        "Running shorts",
        "Hydration vest",
        "GPS running watch",
        "Reflective jacket",
        "Energy gels",
        "Compression sleeves",
        "Running cap",
    ],
    "baby": [
        "Baby diapers",
        "Baby wipes",
        "Infant formula",
        "Baby bottle",
        "Pacifier set",
        "Baby stroller",
        "Teething toy",
        "Baby shampoo",
        "Crib sheets",
        "Baby monitor",
    ],
    "books": [
        "Science fiction novel",
        "Cookbook of Italian recipes",
        "History of Rome",
        "Poetry collection",
        "Mystery thriller",
        "Children's picture book",
        "Travel guide to Japan",
        "Biography of a scientist",
        "Fantasy saga",
        "Self-help book",
    ],
    "garden": [
        "Garden hose",
        "Tomato seeds",
        "Pruning shears",
        "Flower pots",
        "Lawn mower",
        "Compost bin",
        "Watering can",
        "Garden gloves",
        "Bird feeder",
        "Potting soil",
    ],
}


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def catalog() -> pd.DataFrame:
    rows = []
    for cat, titles in CATEGORIES.items():
        for i, t in enumerate(titles):
            rows.append(
                {
                    "item_id": f"{cat}-{i}",
                    "title": t,
                    "category": cat,
                    "price": 5.0 + 3 * i,
                    "currency": "USD",
                    "in_stock": True,
                    "cities": "Shanghai" if (cat == "garden" and i == 0) else "",
                    "description": f"A {cat} product.",
                }
            )
    return pd.DataFrame(rows)


def synthetic_log(catalog: pd.DataFrame, *, n_users: int = 80, days: int = 90, seed: int = 0) -> pd.DataFrame:
    """Users with one favourite category who view, cart and buy mostly inside it; coffee is re-bought."""
    rng = np.random.default_rng(seed)
    cats = list(CATEGORIES)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = []
    for u in range(n_users):
        fav = cats[u % len(cats)]
        city = "Shanghai" if u % 2 else "Beijing"
        n = rng.integers(8, 25)
        for _ in range(n):
            cat = fav if rng.random() < 0.85 else cats[rng.integers(len(cats))]
            # a per-category popularity skew so that popularity is informative too
            i = min(int(rng.exponential(3.0)), 9)
            item = f"{cat}-{i}"
            ts = start + pd.Timedelta(seconds=int(rng.integers(0, days * 86400)))
            et = rng.choice(["view", "view", "add_to_cart", "purchase"])
            rows.append({"user_id": f"u{u}", "ts": ts, "event_type": et, "item_id": item, "city": city})
            if cat == "coffee" and et == "purchase":
                for k in range(1, 4):
                    rows.append(
                        {
                            "user_id": f"u{u}",
                            "ts": ts + pd.Timedelta(days=14 * k),
                            "event_type": "purchase",
                            "item_id": item,
                            "city": city,
                        }
                    )
    from recsvc.data.io import normalize_events

    df = pd.DataFrame(rows)
    df = df[df["ts"] < start + pd.Timedelta(days=days)]
    return normalize_events(df)


@pytest.fixture(scope="session")
def log(catalog: pd.DataFrame) -> pd.DataFrame:
    return synthetic_log(catalog)


@pytest.fixture(scope="session")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory,
    log: pd.DataFrame,
    catalog: pd.DataFrame,
    encoder: SentenceTransformerEncoder,
) -> Path:
    out = tmp_path_factory.mktemp("recs")
    return train_recs(log, catalog, out_dir=out, encoder=encoder, config=CFG, cutoff=CUTOFF, progress=False)
