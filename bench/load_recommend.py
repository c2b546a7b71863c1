"""Load generator for ``Recommend`` (no fresh LLM copy), run as its own process(es).

Usage (against a running server, e.g. `make run` or `recsvc serve --processes 2`):

    .venv/bin/python bench/load_recommend.py --target 127.0.0.1:50051 --users var/demo/users.csv

It measures, in one run: the health check's p50 (the floor: what gRPC itself costs here), then
closed-loop Recommend at concurrency 1, 8 and 32 (requests/s, p50, p99), then open-loop at a fixed
rate (default 300 and 500 requests/s) to check latency under a given load. Client work is spread
over several processes so the generator is not the bottleneck. Prints a markdown table.

``--bursts N`` runs only the fixed-rate rows, N times each and in order: on a freshly started server
the first burst shows what first use still costs (compare it with the second).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import multiprocessing as mp
import random
import statistics
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def _channel(target: str) -> grpc.Channel:
    """A channel with its own TCP connection: with several server processes on one port (SO_REUSEPORT) the
    kernel balances connections, not requests, so each worker thread needs its own to reach them all."""
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def _users(path: str | None, n: int = 2000) -> list[str]:
    if not path or not Path(path).exists():
        return [f"u{i:05d}" for i in range(1, n + 1)]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [row["user_id"] for row in csv.DictReader(f)][:n]


def _closed_loop(target: str, users: list[str], n_threads: int, seconds: float, kind: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    import threading

    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    rng = random.Random(0)

    def worker() -> None:
        nonlocal errors
        local: list[float] = []
        errs = 0
        with _channel(target) as ch:
            stub = pb_grpc.PushRecommenderStub(ch)
            health = health_pb2_grpc.HealthStub(ch)
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    if kind == "health":
                        health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    else:
                        stub.Recommend(
                            pb.RecommendRequest(user_id=rng.choice(users), max_candidates=5, write_copy=False),
                            timeout=5,
                        )
                    local.append((time.perf_counter() - t0) * 1000)
                except grpc.RpcError:
                    errs += 1
        with lock:
            lat.extend(local)
            errors += errs

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put((lat, errors))


def _open_loop(
    target: str,
    users: list[str],
    rate: float,
    seconds: float,
    q: mp.Queue,  # type: ignore[type-arg]
    reserve: bool = False,
) -> None:
    """Requests on a fixed schedule from a pool of threads. Latency is measured from each request's
    scheduled time, so a server (or client) that falls behind shows it instead of hiding it.

    ``reserve=True`` asks for real sends (``RecommendRequest.reserve``): request ``i`` then goes to
    ``users[i]`` (wrapping), so each request books for a different user until the list wraps,
    instead of random users whose second reservation of the day mostly meets the daily cap."""
    import threading

    n_threads = 16
    n = int(rate * seconds)
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    channels = [_channel(target) for _ in range(n_threads)]
    for ch in channels:  # connect before the clock starts
        grpc.channel_ready_future(ch).result(timeout=10)
    start = time.perf_counter() + 0.2

    def worker(offset: int) -> None:
        nonlocal errors
        stub = pb_grpc.PushRecommenderStub(channels[offset])
        rng = random.Random(offset)
        local: list[float] = []
        errs = 0
        for i in range(offset, n, n_threads):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            user = users[i % len(users)] if reserve else rng.choice(users)
            try:
                stub.Recommend(
                    pb.RecommendRequest(user_id=user, max_candidates=5, write_copy=False, reserve=reserve), timeout=5
                )
                local.append((time.perf_counter() - due) * 1000)
            except grpc.RpcError:
                errs += 1
        with lock:
            lat.extend(local)
            errors += errs

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ch in channels:
        ch.close()
    q.put((lat, errors))


def _run(fn: object, args_per_proc: list[tuple[object, ...]], **kwargs: object) -> tuple[list[float], int, float]:
    """``fn(*args, q, **kwargs)`` in one spawned process per ``args_per_proc`` entry."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=fn, args=(*a, q), kwargs=kwargs) for a in args_per_proc]  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    lat = [x for r in results for x in r[0]]
    return lat, sum(r[1] for r in results), wall


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


Row = tuple[str, object, float, float, float, int]  # workload, concurrency, req/s, p50 ms, p99 ms, errors


def measure(target: str, users: list[str], seconds: float, client_procs: int, rates: list[float]) -> list[Row]:
    """The health floor, closed loop at 1, 8 and 32, then open loop at each of ``rates``."""
    rows: list[Row] = []
    lat, err, _ = _run(_closed_loop, [(target, users, 1, seconds / 2, "health")])
    rows.append(("health check (floor)", 1, len(lat) / (seconds / 2), statistics.median(lat), _pct(lat, 0.99), err))
    for conc in (1, 8, 32):
        procs = 1 if conc == 1 else client_procs
        lat, err, _ = _run(_closed_loop, [(target, users, conc // procs, seconds, "recommend")] * procs)
        rows.append(("Recommend closed loop", conc, len(lat) / seconds, statistics.median(lat), _pct(lat, 0.99), err))
    for rate in rates:
        lat, err, _ = _run(_open_loop, [(target, users, rate / client_procs, seconds)] * client_procs)
        rows.append(
            (
                f"Recommend at fixed {rate:.0f} req/s",
                "open",
                len(lat) / seconds,
                statistics.median(lat),
                _pct(lat, 0.99),
                err,
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    print("| workload | concurrency | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    floor = rows[0][3]
    for name, conc, rps, p50, p99, err in rows:
        print(f"| {name} | {conc} | {rps:.0f} | {p50:.2f} ({p50 / floor:.1f}x floor) | {p99:.2f} | {err} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--users", default="var/demo/users.csv")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--rates", default="300,500")
    ap.add_argument("--bursts", type=int, default=0, help="only the fixed-rate rows, this many times each")
    args = ap.parse_args()
    users = _users(args.users)
    if args.bursts > 0:
        _bursts(args, users)
        return
    rates = [float(r) for r in args.rates.split(",") if r]
    print_table(measure(args.target, users, args.seconds, args.client_procs, rates))


def _bursts(args: argparse.Namespace, users: list[str]) -> None:
    print("| burst | rate req/s | req/s done | p50 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for i in range(1, args.bursts + 1):
        for rate in (float(r) for r in args.rates.split(",") if r):
            procs = args.client_procs
            lat, err, _ = _run(_open_loop, [(args.target, users, rate / procs, args.seconds)] * procs)
            print(
                f"| {i} | {rate:.0f} | {len(lat) / args.seconds:.0f} | {statistics.median(lat):.2f} | "
                f"{_pct(lat, 0.99):.2f} | {max(lat):.1f} | {err} |"
            )


if __name__ == "__main__":
    main()
