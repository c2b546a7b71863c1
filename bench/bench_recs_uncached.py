"""Latency of the uncached ``RecsModel.recommend`` path, in process: history -> profile -> sources
-> features -> LightGBM -> rules -> reasons, with no engine cache in front.

Usage:

    .venv/bin/python bench/bench_recs_uncached.py --events ../shared/data/ml-100k --cutoff 1998-03-01
    .venv/bin/python bench/bench_recs_uncached.py --events var/demo/events.csv.gz --items var/demo/items.csv \\
        --cutoff 2026-11-10

It trains a recs model on the events before the cut-off (into a temporary folder, or takes
``--model DIR``), then asks for ten products for ``--users`` users with their real history before
the cut-off, each request alone and in a fixed order, after ``--warmup`` untimed requests. Prints
one markdown row: median, p90, p99 and mean milliseconds per request. Run it on the code before and
after a change (``PYTHONPATH=...``) to compare: the script uses only the public recs API.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.data.convert import load_dataset
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.serving import RecRequest, RecsModel
from recsvc.recs.training import train_recs


def _requests(events: pd.DataFrame, cutoff: pd.Timestamp, n: int, seed: int) -> list[RecRequest]:
    ev = events[(events["ts"] < cutoff) & events["item_id"].notna()]
    groups = {str(u): g for u, g in ev.groupby(ev["user_id"].astype(str), sort=True)}
    rng = np.random.default_rng(seed)
    users = sorted(groups)
    chosen = [users[i] for i in rng.choice(len(users), min(n, len(users)), replace=False)]
    now = cutoff.to_pydatetime()
    out = []
    for u in chosen:
        g = groups[u]
        hist = list(zip(g["item_id"].astype(str), g["event_type"], g["ts"], strict=True))
        out.append(RecRequest(user_id=u, history=hist, now=now, k=10))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", required=True)
    ap.add_argument("--items")
    ap.add_argument("--cutoff", required=True)
    ap.add_argument("--model", help="an existing model folder (default: train one before the cut-off)")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="passes over the users (latencies pooled)")
    ap.add_argument("--label", default="this code")
    args = ap.parse_args()

    ds = load_dataset(args.events, args.items)
    cut = pd.Timestamp(args.cutoff)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
    encoder = SentenceTransformerEncoder()
    with tempfile.TemporaryDirectory(prefix="bench-recs-") as tmp:
        if args.model:
            path = Path(args.model)
        else:
            t0 = time.perf_counter()
            path = train_recs(
                ds.events[ds.events["ts"] < cut], ds.items, out_dir=Path(tmp), encoder=encoder,
                cutoff=cut, progress=False, users=ds.users,
            )  # fmt: skip
            print(f"trained in {time.perf_counter() - t0:.1f} s")
        model = RecsModel.load(path, encoder)
        reqs = _requests(ds.events, cut, args.users, seed=0)
        for r in reqs[: args.warmup]:
            model.recommend(r)
        lat: list[float] = []
        for _ in range(args.rounds):
            for r in reqs:
                t0 = time.perf_counter()
                model.recommend(r)
                lat.append((time.perf_counter() - t0) * 1000)
    a = np.asarray(lat)
    print("| code | requests | p50 ms | p90 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.label} | {len(a)} | {np.percentile(a, 50):.2f} | {np.percentile(a, 90):.2f} "
        f"| {np.percentile(a, 99):.2f} | {statistics.fmean(lat):.2f} |"
    )


if __name__ == "__main__":
    main()
