"""Thread-safe counters, a latency window and a version number for the engine.

Why: the engine is called from every gRPC worker thread at once. ``counter[k] += 1`` on a shared
dict is a read, an add and a write, so concurrent calls lose increments, and iterating the dict
while another thread adds a key raises. Every access here goes through one lock; each is a few
dict operations, so the lock is never held for long.
"""

from __future__ import annotations

import threading
from collections import Counter, deque


class Counters:
    """Named counters and the latest request latencies (ms), safe to update from many threads."""

    def __init__(self, latency_window: int = 2000) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()
        self._latency_ms: deque[float] = deque(maxlen=latency_window)

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._values[name] += by

    def observe_ms(self, ms: float) -> None:
        with self._lock:
            self._latency_ms.append(ms)

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def values(self) -> dict[str, float]:
        """A copy of every counter, as floats."""
        with self._lock:
            return {k: float(v) for k, v in self._values.items()}

    def latencies_ms(self) -> list[float]:
        """A copy of the latency window, oldest first."""
        with self._lock:
            return list(self._latency_ms)


class Version:
    """A number that only grows; :meth:`bump` never loses an increment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def value(self) -> int:
        return self._value

    def bump(self) -> int:
        with self._lock:
            self._value += 1
            return self._value
