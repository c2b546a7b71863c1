"""ScoreUsers of many ids, and what it does to Recommend latency meanwhile.

Usage (against a running server, e.g. `recsvc serve` over the demo):

    .venv/bin/python bench/bench_score_users.py --target 127.0.0.1:50051 --users var/demo/users.csv

Three rows, one after the other: Recommend alone at a fixed rate (open loop, latency measured from
each request's scheduled time, so a stalled server shows it), one ScoreUsers call of ``--ids`` ids
alone (the demo's users, then made-up ids up to that count), and the same ScoreUsers call while the
same Recommend load runs (only requests scheduled during the ScoreUsers call count). Recommend runs
in its own process, without fresh LLM copy. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import multiprocessing as mp
import random
import statistics
import threading
import time
from pathlib import Path

import grpc

from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def _users(path: str | None) -> list[str]:
    if not path or not Path(path).exists():
        return [f"u{i:05d}" for i in range(1, 5001)]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [row["user_id"] for row in csv.DictReader(f)]


def _recommend_load(target: str, users: list[str], rate: float, stop: object, q: mp.Queue) -> None:  # type: ignore[type-arg]
    """Open-loop Recommend at ``rate`` until ``stop`` is set; puts (scheduled wall time, ms, ok) rows."""
    n_threads = 16
    rows: list[tuple[float, float, bool]] = []
    lock = threading.Lock()
    channels = [
        grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(n_threads)
    ]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=10)
    start = time.perf_counter() + 0.2
    wall0 = time.time() + 0.2

    def worker(offset: int) -> None:
        stub = pb_grpc.PushRecommenderStub(channels[offset])
        rng = random.Random(offset)
        local = []
        i = offset
        while not stop.is_set():  # type: ignore[attr-defined]
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ok = True
            try:
                stub.Recommend(
                    pb.RecommendRequest(user_id=rng.choice(users), max_candidates=5, write_copy=False), timeout=30
                )
            except grpc.RpcError:
                ok = False
            local.append((wall0 + (due - start), (time.perf_counter() - due) * 1000, ok))
            i += n_threads
        with lock:
            rows.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ch in channels:
        ch.close()
    q.put(rows)


def _score(target: str, ids: list[str]) -> float:
    with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]) as ch:
        stub = pb_grpc.PushRecommenderStub(ch)
        t0 = time.perf_counter()
        r = stub.ScoreUsers(pb.ScoreUsersRequest(user_ids=ids), timeout=600)
        assert len(r.scores) == len(ids)
        return time.perf_counter() - t0


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


def _with_load(target: str, users: list[str], rate: float, run: object, warmup_s: float) -> tuple[list, float, float]:  # type: ignore[type-arg]
    """Start the Recommend load, call ``run()`` after ``warmup_s``, stop the load; returns its rows and
    the wall-clock window of ``run``."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    p = ctx.Process(target=_recommend_load, args=(target, users, rate, stop, q))
    p.start()
    time.sleep(warmup_s)
    t0 = time.time()
    run()  # type: ignore[operator]
    t1 = time.time()
    stop.set()
    rows = q.get()
    p.join()
    return rows, t0, t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--users", default="var/demo/users.csv")
    ap.add_argument("--ids", type=int, default=10_000, help="ids per ScoreUsers call")
    ap.add_argument("--rate", type=float, default=100.0, help="Recommend requests/s")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the Recommend-alone row")
    args = ap.parse_args()
    users = _users(args.users)
    ids = (users + [f"bench-unknown-{i}" for i in range(args.ids)])[: args.ids]
    table = []

    rows, t0, t1 = _with_load(args.target, users, args.rate, lambda: time.sleep(args.seconds), 1.0)
    lat = [ms for due, ms, ok in rows if t0 <= due <= t1 and ok]
    errs = sum(1 for due, _, ok in rows if t0 <= due <= t1 and not ok)
    table.append((f"Recommend alone at {args.rate:.0f} req/s", "", len(lat), lat, errs))

    alone = _score(args.target, ids)
    table.append((f"ScoreUsers of {len(ids):,} ids alone", f"{alone:.2f}", 0, [], 0))

    took: list[float] = []
    rows, t0, t1 = _with_load(args.target, users, args.rate, lambda: took.append(_score(args.target, ids)), 2.0)
    lat = [ms for due, ms, ok in rows if t0 <= due <= t1 and ok]
    errs = sum(1 for due, _, ok in rows if t0 <= due <= t1 and not ok)
    name = f"ScoreUsers of {len(ids):,} ids + Recommend at {args.rate:.0f} req/s"
    table.append((name, f"{took[0]:.2f}", len(lat), lat, errs))

    print("| workload | ScoreUsers s | Recommend calls | p50 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, secs, n, lat, errs in table:
        if lat:
            p50, p99, mx = f"{statistics.median(lat):.2f}", f"{_pct(lat, 0.99):.2f}", f"{max(lat):.1f}"
        else:
            p50 = p99 = mx = ""
        print(f"| {name} | {secs} | {n or ''} | {p50} | {p99} | {mx} | {errs} |")


if __name__ == "__main__":
    main()
