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


def test_texts_per_locale_are_kept_until_the_catalog_changes() -> None:
    store = CountingStore()
    store.rows["i1"]["attributes"] = '{"title_zh": "猫粮"}'
    version = [1]
    rows = ItemRows(store, lambda: version[0])
    assert rows.texts(["i1", "i9"], "zh-CN")["i1"].title == "猫粮"
    assert rows.texts(["i1"], "en-US")["i1"].title == "Cat food"
    store.rows["i1"]["attributes"] = '{"title_zh": "优选猫粮"}'
    assert rows.texts(["i1"], "zh-CN")["i1"].title == "猫粮"
    version[0] = 2
    assert rows.texts(["i1"], "zh-CN")["i1"].title == "优选猫粮"
