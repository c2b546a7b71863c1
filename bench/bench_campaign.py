"""``recsvc campaign`` throughput: users per hour in one process and on a Dask LocalCluster.

Usage (builds the demo app, trains and imports it once under ``--root``, then times the runs):

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/bench_campaign.py --demo-users 50000 --users 20000

Each mode runs ``recsvc campaign`` as its own process over the same ``--users`` users (the first ones
of the sorted known users) at one fixed ``--as-of``, without copy (``--copy`` off: the row has no
message, which is what a campaign without fresh LLM copy costs), and prints one markdown row: wall
time including model loading and cluster start, users per hour, peak RSS (the process; with Dask
each worker's), the share of worker time spent computing rows, the rate per worker while computing,
and ``uptime``'s load before the run. Other engineers share the machine: read the load beside the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

AS_OF = "2026-12-02T09:00:00+00:00"


def _recsvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "recsvc.cli", *args]


def _load() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]


def prepare(root: Path, demo_users: int, items: int, days: int) -> Path:
    """The demo app trained and imported under ``root``; returns its settings file."""
    config = root / "recsvc.toml"
    if (root / "ready").exists():
        return config
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[paths]\nstore = "{root / "recsvc.db"}"\nmodels_dir = "{root / "models"}"\n'
        '[copy]\nbase_url = "http://127.0.0.1:9/v1"\ntimeout_s = 0.2\nmax_retries = 0\n',
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    demo = root / "demo"
    subprocess.run(
        _recsvc("demo-data", "-q", "--out", str(demo), "--users", str(demo_users), "--items", str(items),
                "--days", str(days), "--end", AS_OF[:10]),
        check=True,
    )  # fmt: skip
    t1 = time.perf_counter()
    subprocess.run(
        _recsvc("train", "-q", "--config", str(config), "--events", str(demo / "events.csv.gz"),
                "--items", str(demo / "items.csv"), "--users", str(demo / "users.csv"), "--import-store"),
        check=True,
    )  # fmt: skip
    print(f"demo data {t1 - t0:.0f} s, train and import {time.perf_counter() - t1:.0f} s", file=sys.stderr)
    (root / "ready").write_text("ok\n", encoding="utf-8")
    return config


def user_file(root: Path, config: Path, n: int) -> Path:
    from recsvc.settings import load_settings
    from recsvc.store import open_store

    store = open_store(load_settings(str(config)).paths.store)
    ids = sorted(store.history_signatures())[:n]
    store.close()
    path = root / f"users-{len(ids)}.txt"
    path.write_text("\n".join(ids) + "\n", encoding="utf-8")
    return path


def run_mode(config: Path, users: Path, out: Path, chunk: int, dask: str | None) -> dict[str, object]:
    for leftover in (out, out.with_name(out.name + ".parts")):
        if leftover.is_dir():
            subprocess.run(["rm", "-rf", str(leftover)], check=True)
        elif leftover.exists():
            leftover.unlink()
    argv = ["campaign", "-q", "--config", str(config), "--users", str(users), "--as-of", AS_OF]
    argv += ["--out", str(out), "--chunk", str(chunk)] + (["--dask", dask] if dask else [])
    load = _load()
    t0 = time.perf_counter()
    done = subprocess.run(_recsvc(*argv), check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    # The largest child so far: every mode runs after the previous one, so the single run comes first.
    peak_self = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"summary": summary, "wall": wall, "load": load, "peak_mb": peak_self}


def _noop(ids: list[str]) -> int:
    return len(ids)


def scheduler_overhead(workers: int, tasks: int, chunk: int) -> float:
    """Milliseconds per task of the scheduling alone: ``tasks`` tasks that carry a chunk's user ids
    and do nothing, on a LocalCluster like the campaign's, submitted and gathered as the driver does."""
    from distributed import Client, LocalCluster, as_completed

    ids = [f"u{i:07d}" for i in range(chunk)]
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.submit(_noop, ids).result()  # the workers have imported this module
        t0 = time.perf_counter()
        futures = [client.submit(_noop, ids, pure=False) for _ in range(tasks)]
        for future in as_completed(futures, loop=client.loop):
            future.result()
        return (time.perf_counter() - t0) / tasks * 1000


def _row(mode: str, r: dict[str, object]) -> str:
    s = r["summary"]
    assert isinstance(s, dict)
    users, wall = int(s["users"]), float(r["wall"])  # type: ignore[arg-type]
    if s.get("worker_peak_rss_mb"):
        peaks = " / ".join(f"{p:.0f}" for p in s["worker_peak_rss_mb"])
        busy = f"{float(s['worker_busy']):.0%}"
        per_worker = users / float(s["compute_s"]) * 3600 if float(s["compute_s"]) else 0.0
    else:
        peaks, busy, per_worker = f"{float(r['peak_mb']):.0f}", "—", users / wall * 3600  # type: ignore[arg-type]
    rate = users / wall * 3600
    return (
        f"| {mode} | {users:,} | {int(s['rows']):,} | {wall:.0f} s | {rate:,.0f} | {peaks} MB | {busy} "
        f"| {per_worker:,.0f} | {r['load']} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="var/bench-campaign", help="where the demo app, models and outputs go")
    ap.add_argument(
        "--config",
        help="an app already trained and loaded (its settings file), e.g. a large demo loaded with `recsvc db "
        "import`; else the demo app is built under --root",
    )
    ap.add_argument("--demo-users", type=int, default=50_000, help="users in the generated demo app")
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--users", type=int, default=20_000, help="users per campaign run (the first known ones)")
    ap.add_argument("--users-file", help="the users of every run (one id per line) instead of --users")
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2, help="the Dask mode's local:N")
    ap.add_argument("--modes", default="single,dask", help="which runs, in order (single, dask)")
    ap.add_argument("--overhead-tasks", type=int, default=2000, help="no-op tasks timed for the scheduling cost")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    root = Path(args.root).resolve()
    if args.config:
        config = Path(args.config).resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        config = prepare(root, args.demo_users, args.items, args.days)
    users = Path(args.users_file).resolve() if args.users_file else user_file(root, config, args.users)
    print("| mode | users | rows | wall (incl. start) | users/h | peak RSS per process | worker busy "
          "| users/h per worker computing | load (1 min) before |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        dask = f"local:{args.workers}" if mode == "dask" else None
        r = run_mode(config, users, root / f"campaign-{mode}.parquet", args.chunk, dask)
        print(_row(f"`--dask {dask}`" if dask else "single process", r), flush=True)
    if args.overhead_tasks:
        ms = scheduler_overhead(args.workers, args.overhead_tasks, args.chunk)
        print(f"\nscheduling alone: {ms:.2f} ms per task ({args.overhead_tasks} no-op tasks of {args.chunk} ids, "
              f"{args.workers} workers; load {_load()})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
