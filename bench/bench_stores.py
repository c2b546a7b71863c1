"""Serving on SQLite and on PostgreSQL side by side, in one run: Recommend load and ReportEvents ingest.

Usage:

    .venv/bin/python bench/bench_stores.py [--users 2000] [--rounds 2] [--json var/bench/stores.json]

It generates a demo app, trains the models once and loads the same data into a SQLite file and into a
throwaway PostgreSQL 15 cluster (``initdb`` + ``pg_ctl``, as the tests do). Then, for each round and
each store in turn, it starts ``recsvc serve --processes N`` on that store and measures:

* the ``Recommend`` load table of ``bench/load_recommend.py`` (health floor, closed loop 1/8/32,
  open loop at 300 and 500 requests/s; no fresh LLM copy);
* ``ReportEvents`` ingest: batches of 1,000 new events (views, push opens, purchases) sent by 1 and
  by 4 concurrent clients; events per second, and the p50 / p99 of one batch's latency.

Stores alternate within each round so that a change in the machine's load shows in both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from load_recommend import Row, _pct, _users, measure, print_table  # noqa: E402

from recsvc.data.demo import generate_demo  # noqa: E402
from recsvc.server.run import wait_serving  # noqa: E402
from recsvc.settings import load_settings  # noqa: E402
from recsvc.training import import_log, train_all  # noqa: E402
from recsvc.v1 import recsvc_pb2 as pb  # noqa: E402
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc  # noqa: E402
from tests.pg_cluster import free_port, start_cluster  # noqa: E402
from tests.server_process import stop_server  # noqa: E402

BATCH = 1000


def _env(store: str, models: Path, closed_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RECSVC_PATHS_STORE": store,
        "RECSVC_PATHS_MODELS_DIR": str(models),
        # No LLM: the load table measures serving without fresh copy, on both stores alike.
        "RECSVC_COPY_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
        "RECSVC_ENGINE_RELOAD_INTERVAL_S": "0",
    }
    env.pop("RECSVC_CONFIG", None)
    return env


def _serve(env: dict[str, str], processes: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "recsvc.cli", "serve", "--port", str(port), "--processes", str(processes)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    if not wait_serving(target, timeout_s=600):
        proc.kill()
        raise SystemExit(f"server on {env['RECSVC_PATHS_STORE']} never SERVING; see {log}")
    return proc, target


def _batch(users: list[str], items: list[str], seed: int) -> pb.ReportEventsRequest:
    now = Timestamp()
    now.FromDatetime(datetime.now(UTC))
    kinds = (pb.EVENT_TYPE_VIEW, pb.EVENT_TYPE_PUSH_OPENED, pb.EVENT_TYPE_PURCHASE)
    events = []
    for i in range(BATCH):
        k = kinds[(seed + i) % 3]
        events.append(
            pb.Event(
                event_id=uuid.uuid4().hex,
                user_id=users[(seed * 7919 + i) % len(users)],
                ts=now,
                event_type=k,
                item_id=items[(seed * 31 + i) % len(items)],
                quantity=1 if k == pb.EVENT_TYPE_PURCHASE else 0,
                value=19.9 if k == pb.EVENT_TYPE_PURCHASE else 0.0,
                channel=pb.CHANNEL_APP_PUSH if k == pb.EVENT_TYPE_PUSH_OPENED else pb.CHANNEL_UNSPECIFIED,
            )
        )
    return pb.ReportEventsRequest(events=events)


def _ingest(target: str, users: list[str], items: list[str], clients: int, batches: int) -> dict[str, float]:
    """Each client sends ``batches`` batches one after another; all must be accepted whole."""
    lat: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client(c: int) -> None:
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            stub = pb_grpc.PushRecommenderStub(ch)
            reqs = [_batch(users, items, c * 100_000 + b) for b in range(batches)]
            local = []
            for req in reqs:
                t0 = time.perf_counter()
                resp = stub.ReportEvents(req, timeout=60)
                local.append((time.perf_counter() - t0) * 1000)
                if resp.accepted != BATCH:
                    failures.append(f"accepted {resp.accepted} of {BATCH} ({resp.rejected} rejected)")
            with lock:
                lat.extend(local)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"ingest: {failures[0]}")
    return {
        "clients": clients,
        "events_per_s": clients * batches * BATCH / wall,
        "batch_p50_ms": statistics.median(lat),
        "batch_p99_ms": _pct(lat, 0.99),
    }


def _prepare(root: Path, n_users: int, pg_url: str, closed_port: int) -> tuple[dict[str, dict[str, str]], Path]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paths = generate_demo(
        root / "demo", n_users=n_users, n_items=max(200, n_users // 10), days=90, end=end, seed=11, progress=True
    )
    files = {"events": str(paths.events), "items": str(paths.items), "users": str(paths.users)}
    envs = {
        "SQLite": _env(str(root / "store.db"), root / "models", closed_port),
        "PostgreSQL": _env(pg_url, root / "models", closed_port),
    }
    train_all(load_settings(env=envs["SQLite"]), import_store=True, progress=True, **files)
    import_log(load_settings(env=envs["PostgreSQL"]), **files, progress=False)
    return envs, paths.users


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000, help="demo users")
    ap.add_argument("--rounds", type=int, default=1, help="each store this many times, alternating")
    ap.add_argument("--processes", type=int, default=2, help="server processes")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rates", default="300,500")
    ap.add_argument("--ingest-batches", type=int, default=20, help="batches of 1,000 events per client")
    ap.add_argument("--json", default="", help="write the figures here too")
    args = ap.parse_args()
    cluster = start_cluster()
    os.environ["RECSVC_POSTGRES_PASSWORD"] = cluster.password
    results: list[dict[str, object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp:
            root = Path(tmp)
            envs, users_csv = _prepare(root, args.users, cluster.new_database(), free_port())
            users = _users(str(users_csv), n=args.users)
            items = [f"i{i:05d}" for i in range(1, 50)]
            rates = [float(r) for r in args.rates.split(",") if r]
            for rnd in range(1, args.rounds + 1):
                for name, env in envs.items():
                    proc, target = _serve(env, args.processes, root / f"serve-{name}-{rnd}.log")
                    try:
                        rows: list[Row] = measure(target, users, args.seconds, 2, rates)
                        ingest = [_ingest(target, users, items, c, args.ingest_batches) for c in (1, 4)]
                    finally:
                        stop_server(proc)
                    print(f"\n### {name}, round {rnd} (load {os.getloadavg()[0]:.1f})")
                    print_table(rows)
                    for r in ingest:
                        print(
                            f"ReportEvents, {r['clients']} client(s), batches of {BATCH}: "
                            f"{r['events_per_s']:.0f} events/s, batch p50 {r['batch_p50_ms']:.0f} ms, "
                            f"p99 {r['batch_p99_ms']:.0f} ms"
                        )
                    results.append(
                        {
                            "store": name,
                            "round": rnd,
                            "load": os.getloadavg()[0],
                            "recommend": [list(r) for r in rows],
                            "ingest": ingest,
                        }
                    )
    finally:
        cluster.destroy()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
