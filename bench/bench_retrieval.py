"""Retrieval and per-user recommend latency at 10k / 100k / 1M items.

Two kinds of item vectors (``--vectors``):

- ``text`` (default): what a catalog's embeddings look like. Embedding a million titles with
  MiniLM on 2 cores takes hours, so a base of ``--base`` (20,000) distinct product titles built
  from the demo app's vocabulary is embedded with the real all-MiniLM-L6-v2 once (cached under
  ``~/.cache/recsvc-bench``), and each item is one base title's vector blended with a second
  one's (weight U(0, 0.5)) plus Gaussian noise (``--noise`` per dimension), renormalized: SKUs
  that are variants of real products, with as many near-duplicates as a real catalog has.
- ``random``: random unit 384-d vectors, the worst case for approximate search (no structure at
  all); recall figures there are a floor, not what a catalog sees.

The latency part trains a real model (LightGBM ranker, co-occurrence, popularity) on a synthetic
log over the same catalog, with a bench-only encoder that returns those vectors, then times
``recommend``.

    .venv/bin/python bench/bench_retrieval.py --sizes 10000 100000 1000000 --latency-max 100000
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import l2_normalize
from recsvc.recs.index import ItemIndex
from recsvc.recs.serving import RecRequest, RecsModel
from recsvc.recs.training import train_recs

DIM = 384


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RandomVectors:
    """Bench-only encoder: the text "item <i>" maps to row i of a fixed random matrix."""

    name = "random-384"
    dim = DIM

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        rows = [int(t.split()[1]) % len(self.vectors) for t in texts]
        return self.vectors[rows]


def random_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        out[s : s + 100_000] = l2_normalize(rng.standard_normal((min(100_000, n - s), DIM), dtype=np.float32))
    return out


def base_titles(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct product titles in the demo app's vocabulary, with a model code and category."""
    from recsvc.data.demo.tables import ADJECTIVES, BRANDS, CATEGORIES

    rng = np.random.default_rng(seed)
    colors = ("Black", "White", "Red", "Blue", "Green", "Grey", "Pink", "Beige", "Navy", "Gold")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        c = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        t = (
            f"{BRANDS[int(rng.integers(len(BRANDS)))][0]} {ADJECTIVES[int(rng.integers(len(ADJECTIVES)))][0]} "
            f"{c.nouns[int(rng.integers(len(c.nouns)))][0]}, {c.variants[int(rng.integers(len(c.variants)))][0]}, "
            f"{colors[int(rng.integers(len(colors)))]} {int(rng.integers(100, 999))}. {c.name[0]}"
        )
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def text_vectors(n: int, base: int, noise: float, seed: int = 0) -> np.ndarray:
    """``n`` item vectors derived from ``base`` real MiniLM title embeddings (see the module doc)."""
    cache = Path.home() / ".cache" / "recsvc-bench" / f"minilm-titles-{base}-{seed}.npy"
    if cache.exists():
        emb = np.load(cache)
    else:
        from recsvc.recs.embeddings import SentenceTransformerEncoder

        titles = base_titles(base, seed)
        t0 = time.perf_counter()
        emb = SentenceTransformerEncoder().encode(titles, batch_size=128, progress=True)
        print(f"embedded {base} titles in {time.perf_counter() - t0:.0f}s", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, emb)
    rng = np.random.default_rng(seed + 1)
    out = np.empty((n, emb.shape[1]), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        a = rng.integers(len(emb), size=m)
        b = rng.integers(len(emb), size=m)
        w = rng.uniform(0.0, 0.5, size=(m, 1)).astype(np.float32)
        v = emb[a] + w * emb[b] + rng.normal(0.0, noise, size=(m, emb.shape[1])).astype(np.float32)
        out[s : s + m] = l2_normalize(v)
    return out


def bench_index(n: int, vecs: np.ndarray) -> dict[str, float | str]:
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    idx = ItemIndex.build([str(i) for i in range(n)], vecs, progress=True)
    build = time.perf_counter() - t0
    mem = rss_mb() - before
    held_out = idx._sample_queries(200, seed=7)
    rec = idx.recall_at(held_out, 10)
    q = held_out[:100]
    lat = []
    for row in q:
        t = time.perf_counter()
        idx.search_labels(row, 100)
        lat.append((time.perf_counter() - t) * 1000)
    return {
        "kind": idx.kind,
        "build_s": build,
        "rss_mb": mem,
        "ef": idx.ef_search,
        "recall_tuning": idx.info["recall_at_10"],
        "recall_held_out": rec,
        "search_ms_p50": float(np.median(lat)),
    }


def synthetic_log(n_items: int, n_users: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_user = 20
    users = np.repeat(np.arange(n_users), per_user)
    # skewed item popularity, like real catalogs
    items = np.minimum(rng.zipf(1.3, size=len(users)) - 1, n_items - 1)
    items = (items * 7919 + users % 97) % n_items
    start = pd.Timestamp("2026-01-01", tz="UTC")
    ts = start + pd.to_timedelta(rng.integers(0, 60 * 86400, len(users)), unit="s")
    et = rng.choice(["view", "view", "view", "add_to_cart", "purchase"], size=len(users))
    return normalize_events(
        pd.DataFrame(
            {
                "user_id": users.astype(str),
                "item_id": items.astype(str),
                "ts": ts,
                "event_type": et,
                "city": np.where(users % 2 == 0, "Shanghai", "Beijing"),
            }
        )
    )


def bench_latency(n: int, vecs: np.ndarray, n_users: int, n_requests: int) -> dict[str, float]:
    items = pd.DataFrame(
        {
            "item_id": [str(i) for i in range(n)],
            "title": [f"item {i}" for i in range(n)],
            "category": [f"c{i % 50}" for i in range(n)],
            "price": 10.0,
        }
    )
    log = synthetic_log(n, n_users)
    cut = log["ts"].max() + timedelta(seconds=1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = train_recs(
            log,
            items,
            out_dir=Path(tmp),
            encoder=RandomVectors(vecs),
            config=RecsConfig(label_days=14),
            progress=False,
        )
        train_s = time.perf_counter() - t0
        model = RecsModel.load(path, RandomVectors(vecs))
    by_user = {u: g for u, g in log.groupby("user_id")}
    users = list(by_user)[:n_requests]
    hists = {
        u: list(zip(g["item_id"], g["event_type"], (g["ts"].astype("int64") // 10**9).astype(float), strict=True))
        for u, g in by_user.items()
        if u in set(users)
    }
    lat = []
    for u in users:
        req = RecRequest(user_id=u, history=hists[u], now=cut.to_pydatetime(), city="Shanghai", k=10)
        t = time.perf_counter()
        model.recommend(req)
        lat.append((time.perf_counter() - t) * 1000)
    lat_a = np.array(lat[5:])  # first calls warm caches
    return {
        "train_s": train_s,
        "rec_ms_p50": float(np.median(lat_a)),
        "rec_ms_p99": float(np.percentile(lat_a, 99)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--latency-max", type=int, default=100_000, help="time recommend() up to this catalog size")
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--vectors", choices=["text", "random"], default="text", help="item vectors (see above)")
    ap.add_argument("--base", type=int, default=20_000, help="text: distinct titles embedded with MiniLM")
    ap.add_argument("--noise", type=float, default=0.02, help="text: Gaussian noise per dimension")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        vecs = random_vectors(n) if args.vectors == "random" else text_vectors(n, args.base, args.noise)
        r: dict[str, float | str] = {"items": n, **bench_index(n, vecs)}
        if n <= args.latency_max:
            r.update(bench_latency(n, vecs, args.users, args.requests))
        rows.append(r)
        print(r, flush=True)
        del vecs
        gc.collect()
    what = (
        "random unit 384-d vectors"
        if args.vectors == "random"
        else f"MiniLM vectors of {args.base:,} titles, blended and noised (noise {args.noise})"
    )
    print(f"\n{what}; recall@10 vs exact search on 200 held-out user-like queries.\n")
    print(
        "| items | index | build s | RSS MB | efSearch | recall@10 | search p50 ms | train s "
        "| recommend p50 ms | recommend p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:

        def f(key: str, fmt: str = "{:.2f}", r: dict[str, float | str] = r) -> str:
            return fmt.format(r[key]) if key in r else "-"

        print(
            f"| {r['items']:,} | {r['kind']} | {f('build_s', '{:.1f}')} | {f('rss_mb', '{:.0f}')} "
            f"| {r['ef']} | "
            f"{f('recall_held_out', '{:.3f}')} | {f('search_ms_p50')} | {f('train_s', '{:.0f}')} | "
            f"{f('rec_ms_p50')} | {f('rec_ms_p99')} |"
        )


if __name__ == "__main__":
    main()
