"""The copywriter's counters and latency reservoirs (p50/p99 without keeping every sample)."""

from __future__ import annotations

import random
import threading


class CopyMetrics:
    """Counters plus small latency reservoirs (p50/p99 without keeping every sample)."""

    def __init__(self, reservoir: int) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}
        self._res: dict[str, list[float]] = {}
        self._seen: dict[str, int] = {}
        self._cap = reservoir
        self._rng = random.Random(0)

    def inc(self, name: str, by: float = 1.0) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0.0) + by

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            res = self._res.setdefault(name, [])
            n = self._seen.get(name, 0) + 1
            self._seen[name] = n
            if len(res) < self._cap:
                res.append(value)
            else:
                j = self._rng.randrange(n)
                if j < self._cap:
                    res[j] = value

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            out = dict(self._counts)
            for name, res in self._res.items():
                if res:
                    s = sorted(res)
                    out[f"{name}_p50_ms"] = s[int(0.5 * (len(s) - 1))]
                    out[f"{name}_p99_ms"] = s[int(0.99 * (len(s) - 1))]
                    out[f"{name}_count"] = float(self._seen[name])
            return out
