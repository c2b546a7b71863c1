"""Item rows for localizing: read once per item, forgotten when the catalog changes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recsvc.engine.localize import ItemRows


class CountingStore:
    def __init__(self) -> None:
        self.rows = {"i1": {"item_id": "i1", "title": "Cat food"}, "i2": {"item_id": "i2", "title": "Tea"}}
        self.reads: list[list[str]] = []

    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(item_ids)
        self.reads.append(ids)
        return {i: dict(self.rows[i]) for i in ids if i in self.rows}


def test_rows_are_read_once_and_unknown_items_are_remembered() -> None:
    store = CountingStore()
    rows = ItemRows(store, lambda: 1)
    assert set(rows.items_by_id(["i1", "i9"])) == {"i1"}
    assert set(rows.items_by_id(["i1", "i2", "i9"])) == {"i1", "i2"}
    assert store.reads == [["i1", "i9"], ["i2"]]


def test_a_new_catalog_version_reads_the_store_again() -> None:
    store = CountingStore()
    version = [1]
    rows = ItemRows(store, lambda: version[0])
    assert rows.items_by_id(["i1"])["i1"]["title"] == "Cat food"
    store.rows["i1"]["title"] = "猫粮"
    assert rows.items_by_id(["i1"])["i1"]["title"] == "Cat food"  # same version: the cached row
    version[0] = 2
    assert rows.items_by_id(["i1"])["i1"]["title"] == "猫粮"
    assert len(store.reads) == 2
