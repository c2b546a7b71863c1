"""The digest cache hands the rows it just read to the same request's ranking, and only those."""

from __future__ import annotations

import threading
from typing import Any

from recsvc.engine.history import DigestCache, recs_history
from recsvc.settings import EngineConfig


class _Store:
    """The reads a digest makes, counted."""

    def __init__(self) -> None:
        self.sig: dict[str, tuple[int, float]] = {"u1": (2, 20.0), "u2": (1, 5.0)}
        self.rows: dict[str, list[Any]] = {
            "u1": [("i1", "view", 10.0, None), (None, "app_open", 20.0, "push")],
            "u2": [("i2", "purchase", 5.0, None)],
        }
        self.row_reads = 0

    def history_signature(self, user_id: str) -> tuple[int, float]:
        return self.sig.get(user_id, (0, 0.0))

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[Any]:
        self.row_reads += 1
        return list(self.rows.get(user_id, []))

    def feedback_rows(self, user_id: str, *, limit: int = 100) -> list[Any]:
        return []


def test_last_rows_are_the_digests_own_read() -> None:
    store = _Store()
    cache = DigestCache(store, lambda: EngineConfig())  # type: ignore[arg-type]
    d1 = cache.get("u1")
    rows = cache.last_rows("u1", d1.sig)
    assert rows == store.rows["u1"] and store.row_reads == 1
    assert recs_history(store, "u1", rows) == recs_history(store, "u1") == [("i1", "view", 10.0)]  # type: ignore[arg-type]
    assert cache.last_rows("u2", d1.sig) is None  # another user
    assert cache.last_rows("u1", (3, 30.0)) is None  # the user's history changed since
    seen: list[object] = []
    other = threading.Thread(target=lambda: seen.append(cache.last_rows("u1", d1.sig)))
    other.start()
    other.join()
    assert seen == [None]  # another thread's request read nothing yet
    cache.get("u2")
    assert cache.last_rows("u1", d1.sig) is None  # only the latest read is kept
