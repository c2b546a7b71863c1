"""Facts about an item for one reader: the cart from events, a price drop, a restock the store saw."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from recsvc.copy import facts
from recsvc.copy.types import CopyRequest
from recsvc.store import RESTOCKED_AT, Store


def test_cart_holds_items_added_and_neither_bought_nor_removed_since() -> None:
    events = [
        ("a", "add_to_cart", 1.0),
        ("b", "add_to_cart", 2.0),
        ("c", "add_to_cart", 3.0),
        ("b", "purchase", 4.0),
        ("c", "remove_from_cart", 5.0),
        ("d", "view", 6.0),
        (None, "app_open", 7.0),
        ("b", "add_to_cart", 8.0),  # added again after the purchase: in the cart again
        ("a", "view", 9.0),
    ]
    assert facts.cart_items(events) == frozenset({"a", "b"})
    assert facts.cart_items([]) == frozenset()


def test_price_dropped_only_when_the_previous_price_is_higher() -> None:
    assert facts.price_dropped_from({"price": 80.0, "previous_price": 100.0}) == 100.0
    assert facts.price_dropped_from({"price": 80.0, "attributes": json.dumps({"previous_price": "99.5"})}) == 99.5
    assert facts.price_dropped_from({"price": 80.0, "previous_price": 80.0}) is None
    assert facts.price_dropped_from({"price": 80.0, "previous_price": 60.0}) is None
    assert facts.price_dropped_from({"price": 80.0}) is None
    assert facts.price_dropped_from({"price": None, "previous_price": 60.0}) is None
    assert facts.price_dropped_from({"price": 80.0, "attributes": json.dumps({"previous_price": "n/a"})}) is None


def test_back_in_stock_only_when_restocked_lately_and_in_stock() -> None:
    now = 1_000_000_000.0
    fresh = {"in_stock": 1, "attributes": json.dumps({RESTOCKED_AT: now - 86400})}
    assert facts.back_in_stock(fresh, now)
    assert not facts.back_in_stock({**fresh, "in_stock": 0}, now)
    stale = {"in_stock": 1, "attributes": json.dumps({RESTOCKED_AT: now - 30 * 86400})}
    assert not facts.back_in_stock(stale, now)
    assert not facts.back_in_stock({"in_stock": 1, "attributes": "{}"}, now)
    iso = {"in_stock": 1, "attributes": json.dumps({RESTOCKED_AT: "2001-09-08T00:00:00Z"})}
    assert facts.back_in_stock(iso, now)


def _item(item_id: str, in_stock: bool, **extra: object) -> dict[str, object]:
    return {"item_id": item_id, "title": f"Item {item_id}", "price": 10.0, "in_stock": in_stock, **extra}


def test_store_records_a_restock_and_forgets_it_when_the_item_runs_out(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cols = ["item_id", "title", "price", "in_stock"]
    store.upsert_items(pd.DataFrame([_item("a", False), _item("b", True)], columns=cols))
    _, stamp = store.upsert_items_stamped(pd.DataFrame([_item("a", True), _item("b", True)], columns=cols))
    attrs = {k: json.loads(v["attributes"]) for k, v in store.items_by_id(["a", "b"]).items()}
    assert attrs["a"][RESTOCKED_AT] == stamp
    assert RESTOCKED_AT not in attrs["b"]  # never out of stock: no restock
    store.upsert_items(pd.DataFrame([_item("a", True)], columns=cols))  # stays in stock: kept
    row = store.get_item("a")
    assert row is not None and json.loads(row["attributes"])[RESTOCKED_AT] == stamp
    assert facts.back_in_stock(row, time.time())
    store.upsert_items(pd.DataFrame([_item("a", False)], columns=cols))  # runs out: forgotten
    row = store.get_item("a")
    assert row is not None and RESTOCKED_AT not in json.loads(row["attributes"])
    assert not facts.back_in_stock(row, time.time())


def test_item_facts_reach_the_copy_request_in_the_readers_locale() -> None:
    row = {
        "item_id": "i1",
        "title": "Wool Beanie",
        "description": "A warm hat",
        "category": "Fashion",
        "price": 15.0,
        "in_stock": 1,
        "attributes": json.dumps({"previous_price": 19, "description_zh": "保暖羊毛帽"}),
    }
    f = facts.item_facts(row, "zh-CN", frozenset({"i1"}), time.time())
    assert f == facts.ItemFacts(
        in_cart=True, price_dropped_from=19.0, back_in_stock=False, category="Fashion", description="保暖羊毛帽"
    )
    req = facts.with_facts(CopyRequest(user_id="u", item_title="羊毛帽", locale="zh-CN"), f)
    assert req.in_cart and req.price_dropped_from == 19.0 and req.item_description == "保暖羊毛帽"
    assert not facts.item_facts(row, "en-US", frozenset({"other"}), time.time()).in_cart
    assert facts.item_facts(None, "en-US", frozenset(), 0.0) == facts.ItemFacts()
