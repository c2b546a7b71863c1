"""Throughput of CapLedger.reserve: one process, then N processes on one store (SQLite or PostgreSQL).

Run: ``.venv/bin/python bench/bench_caps.py [--calls 2000] [--procs 4] [--postgres]``. With
``--postgres`` the store is a throwaway PostgreSQL 15 cluster made as the tests make it
(``tests/pg_cluster.py``), so the figures are for the shared-store ledger (``caps_pg``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recsvc.frequency import open_ledger
from recsvc.store import open_store
from recsvc.vocabulary import EngagementTier

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from store_location import store_location  # noqa: E402

_WORKER = """
import sys
from datetime import UTC, datetime, timedelta
from recsvc.frequency import open_ledger
from recsvc.store import open_store
from recsvc.vocabulary import EngagementTier
location, w, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
led = open_ledger(open_store(location))
t = datetime(2024, 1, 1, tzinfo=UTC)
for i in range(n):
    at = t + timedelta(seconds=i)
    led.reserve(f"u{w}-{i % 500}", "app_push", EngagementTier.HIGH, at, dedupe_key=f"{w}-{i}")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL 15 cluster instead of SQLite")
    args = ap.parse_args()
    with store_location(args.postgres, "caps.sqlite") as location:
        store = open_store(location)
        led = open_ledger(store)
        t0 = time.perf_counter()
        now = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(args.calls):
            led.reserve(f"u{i % 500}", "app_push", EngagementTier.HIGH, now + timedelta(seconds=i), dedupe_key=str(i))
        dt = time.perf_counter() - t0
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{backend}, 1 process: {args.calls / dt:.0f} reserve/s ({1e3 * dt / args.calls:.2f} ms each)")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen([sys.executable, "-c", _WORKER, location, str(w), str(args.calls)], env=env)
            for w in range(args.procs)
        ]
        for p in procs:
            p.wait()
        dt = time.perf_counter() - t0
        total = args.calls * args.procs
        print(f"{backend}, {args.procs} processes: {total / dt:.0f} reserve/s overall (incl. interpreter start-up)")
        led.close()
        store.close()


if __name__ == "__main__":
    main()
