"""Throughput of CapLedger.reserve: one process, then N processes on one SQLite file.

Run: ``.venv/bin/python bench/bench_caps.py [--calls 2000] [--procs 4]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recsvc.frequency.caps import CapLedger
from recsvc.vocabulary import EngagementTier

_WORKER = """
import sys
from datetime import UTC, datetime, timedelta
from recsvc.frequency.caps import CapLedger
from recsvc.vocabulary import EngagementTier
db, w, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
led = CapLedger(db)
t = datetime(2024, 1, 1, tzinfo=UTC)
for i in range(n):
    at = t + timedelta(seconds=i)
    led.reserve(f"u{w}-{i % 500}", "app_push", EngagementTier.HIGH, at, dedupe_key=f"{w}-{i}")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--procs", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "caps.sqlite")
        led = CapLedger(db)
        t0 = time.perf_counter()
        now = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(args.calls):
            led.reserve(
                f"u{i % 500}", "app_push", EngagementTier.HIGH, now + timedelta(seconds=i), dedupe_key=str(i)
            )
        dt = time.perf_counter() - t0
        print(f"1 process: {args.calls / dt:.0f} reserve/s ({1e3 * dt / args.calls:.2f} ms each)")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen([sys.executable, "-c", _WORKER, db, str(w), str(args.calls)], env=env)
            for w in range(args.procs)
        ]
        for p in procs:
            p.wait()
        dt = time.perf_counter() - t0
        total = args.calls * args.procs
        print(f"{args.procs} processes: {total / dt:.0f} reserve/s overall (incl. interpreter start-up)")


if __name__ == "__main__":
    main()
