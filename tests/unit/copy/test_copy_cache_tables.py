"""The copy cache's shared table, on both stores: what one process writes serves another."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsvc.copy.cache import CacheEntry, CopyCache
from recsvc.copy.cache_tables import backing_for
from recsvc.copy.guardrails import Fields
from recsvc.store import EventStore, open_store

KEY = ("i1", "loyal", "app_push", "zh-CN", "v0")
FAILED = ("i2", "loyal", "app_push", "en-US", "v0")


@pytest.fixture
def store(store_location: str) -> Iterator[EventStore]:
    s = open_store(store_location)
    yield s
    s.close()


def test_copy_written_by_one_cache_serves_another(store: EventStore) -> None:
    backing = backing_for(store)
    a = CopyCache(10, 60.0, backing.table("copy_cache"))
    a.put(KEY, CacheEntry(Fields("{name}，猫粮到了", "你常买的那款", "去看看"), "gemma"))
    a.put(FAILED, CacheEntry(None, "gemma", "length"))  # failures stay in the process that met them
    b = CopyCache(10, 60.0, backing_for(store).table("copy_cache"))
    got = b.get(KEY)
    assert got is not None and got.fields == Fields("{name}，猫粮到了", "你常买的那款", "去看看")
    assert got.model == "gemma"
    assert b.get(FAILED) is None
    a.close()
    b.close()


def test_hooks_and_messages_are_kept_apart(store: EventStore) -> None:
    backing = backing_for(store)
    messages = CopyCache(10, 60.0, backing.table("copy_cache"))
    messages.put(KEY, CacheEntry(Fields("t", "b", "c"), "m"))
    hooks = CopyCache(10, 60.0, backing.table("hook_cache"))
    assert hooks.get(KEY) is None
    messages.close()
    hooks.close()


def test_a_rewrite_replaces_the_row(store: EventStore) -> None:
    cache = CopyCache(10, 60.0, backing_for(store).table("copy_cache"))
    cache.put(KEY, CacheEntry(Fields("old", "b", "c"), "m"))
    cache.put(KEY, CacheEntry(Fields("new", "b", "c"), "m"))
    fresh = CopyCache(10, 60.0, backing_for(store).table("copy_cache"))
    got = fresh.get(KEY)
    assert got is not None and got.fields is not None and got.fields.title == "new"
    cache.close()
    fresh.close()


class _DeadTable:
    def load(self, key: str) -> tuple[str, str, str, str] | None:
        raise OSError("database is away")

    def save(self, key: str, row: tuple[str, str, str, str]) -> None:
        raise OSError("database is away")

    def close(self) -> None:
        pass


def test_a_dead_table_is_a_miss_and_the_entry_still_serves_this_process(caplog: pytest.LogCaptureFixture) -> None:
    cache = CopyCache(10, 60.0, _DeadTable())
    assert cache.get(KEY) is None
    cache.put(KEY, CacheEntry(Fields("t", "b", "c"), "m"))
    got = cache.get(KEY)
    assert got is not None and got.ok
    assert "shared table failed" in caplog.text
