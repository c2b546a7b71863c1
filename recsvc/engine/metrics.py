"""What ``GetMetrics`` reports of one engine: its call counters and latency percentiles, the
copywriter's and the local LLM's figures, the cache size, the store's size and the outcomes of the
last 7 days' sends."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from recsvc.copy.supervisor import LLMStatus, status_metrics
from recsvc.engine.counters import Counters
from recsvc.store import EventStore


def record_call(counters: Counters, name: str, t0: float) -> None:
    """Count one ``name`` call that started at ``time.perf_counter()`` ``t0``, and keep its latency."""
    counters.inc(f"{name}_calls")
    counters.observe_ms((time.perf_counter() - t0) * 1000.0)


def latency_percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50 and p99 of the latency window (nothing while it is empty)."""
    lat = sorted(latencies_ms)
    if not lat:
        return {}
    return {
        "recommend_p50_ms": lat[len(lat) // 2],
        "recommend_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def metric_values(
    counters: Counters,
    *,
    versions_refused: int,
    copy_metrics: Mapping[str, float],
    llm_status: LLMStatus | None,
    users_cached: int,
    store: EventStore,
    outcomes_7d: Mapping[str, float],
) -> dict[str, float]:
    """Every figure, by name."""
    values = counters.values()
    values.update(latency_percentiles(counters.latencies_ms()))
    values["model_versions_refused"] = float(versions_refused)
    values.update({f"copy_{k}": float(v) for k, v in copy_metrics.items()})
    values.update(status_metrics(llm_status)[0])
    values["users_cached"] = float(users_cached)
    values["items"] = float(store.count("items"))
    values["events"] = float(store.count("events"))
    values.update({f"outcomes.{k}_7d": float(v) for k, v in outcomes_7d.items()})
    return values


def last_days(days: int) -> tuple[datetime, datetime]:
    """``[now - days, now]`` in UTC, the end just past now so a send booked this instant counts."""
    now = datetime.now(UTC)
    return now - timedelta(days=days), now + timedelta(seconds=1)
