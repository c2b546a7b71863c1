"""What recording a send for attribution adds to a reservation: CapLedger.reserve with and without
the outcome log's booking hook (one more INSERT in the same transaction), interleaved rounds.

Run: ``.venv/bin/python bench/bench_booking.py [--calls 500] [--rounds 4] [--postgres]``. Prints the
median and p99 of one reservation, in ms, for each.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recsvc.frequency import open_ledger
from recsvc.outcomes import OutcomeLog, SendRecord
from recsvc.store import open_store
from recsvc.vocabulary import EngagementTier

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from store_location import store_location  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _record(key: str, user: str, at: datetime) -> SendRecord:
    return SendRecord(
        dedupe_key=key, user_id=user, item_id="i1", channel="app_push", trigger="scheduled", stage="interest",
        tier="high", writer="template", variant="v1", locale="en-US", send_time_source="model",
        planned_at=at + timedelta(hours=1), booked_at=at, model_versions={"recs": "r1", "lifecycle": "l1"},
    )  # fmt: skip


def _pct(ms: list[float], q: float) -> float:
    s = sorted(ms)
    return s[min(len(s) - 1, int(len(s) * q))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    with store_location(args.postgres) as location:
        store = open_store(location)
        ledger, log = open_ledger(store), OutcomeLog(store)
        times: dict[str, list[float]] = {"without": [], "with": []}
        for r in range(args.rounds):
            for mode in ("without", "with") if r % 2 == 0 else ("with", "without"):
                for i in range(args.calls):
                    user, key, at = f"{mode}-{r}-{i}", f"{mode}-{r}-{i}", T0 + timedelta(seconds=i)
                    hook = log.booking_hook(_record(key, user, at)) if mode == "with" else None
                    t = time.perf_counter()
                    ledger.reserve(user, "app_push", EngagementTier.HIGH, at, dedupe_key=key, on_booked=hook)
                    times[mode].append((time.perf_counter() - t) * 1000.0)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        for mode, ms in times.items():
            median, p99 = _pct(ms, 0.5), _pct(ms, 0.99)
            print(f"{backend} reserve {mode} the send record: median {median:.3f} ms, p99 {p99:.3f} ms")
        log.close()
        ledger.close()
        store.close()


if __name__ == "__main__":
    main()
