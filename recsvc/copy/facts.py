"""What is true about one item for one reader, so copy claims only that.

A cart reminder, a price-drop line or "back in stock" is only worth sending when it holds, and a
small model will write any of them whenever the moment suggests it. The engine computes these facts
from the store and the catalog, puts them on the :class:`~recsvc.copy.types.CopyRequest`, and the
prompt, the templates and the guardrails (:mod:`recsvc.copy.sense`) all read them from there.

- ``in_cart``: the user added the item to the cart and has neither bought nor removed it since
  (their events), or the request's context lists it in the cart.
- ``price_dropped_from``: the catalog's ``previous_price`` (a column or attribute of the item),
  when it is above the current price.
- ``back_in_stock``: the item is in stock and was restocked within :data:`RESTOCK_NEWS_DAYS`: the
  store records ``restocked_at`` when an upsert turns ``in_stock`` from false to true, and a
  catalog may give it (unix seconds or ISO-8601) itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recsvc.catalog_text import item_text
from recsvc.copy.types import CopyRequest
from recsvc.store import RESTOCKED_AT

# A restock is news for this long; after that "back in stock" would be stale.
RESTOCK_NEWS_DAYS = 14.0
PREVIOUS_PRICE = "previous_price"
_CART_ADD = "add_to_cart"
_CART_LEAVE = frozenset(("purchase", "remove_from_cart"))


@dataclass(frozen=True)
class ItemFacts:
    """Facts about one item for one reader (see the module docstring for when each holds)."""

    in_cart: bool = False
    price_dropped_from: float | None = None
    back_in_stock: bool = False
    category: str = ""
    description: str = ""


def cart_items(events: Iterable[tuple[Any, ...]]) -> frozenset[str]:
    """Items in the cart after ``events``: ``(item_id, event_type, ...)`` rows, oldest first."""
    cart: set[str] = set()
    for row in events:
        item_id, event_type = row[0], row[1]
        if not item_id:
            continue
        if event_type == _CART_ADD:
            cart.add(str(item_id))
        elif event_type in _CART_LEAVE:
            cart.discard(str(item_id))
    return frozenset(cart)


def attributes_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's ``attributes`` (a JSON object as the store keeps it, or a mapping); {} if damaged."""
    attrs = row.get("attributes")
    if isinstance(attrs, str):
        try:
            attrs = json.loads(attrs or "{}")
        except ValueError:
            return {}
    return dict(attrs) if isinstance(attrs, Mapping) else {}


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _field(row: Mapping[str, Any], name: str) -> Any:
    """A column of the row, else the attribute of that name (a column wins)."""
    value = row.get(name)
    if value is None or value == "":
        value = attributes_of(row).get(name)
    return value


def price_dropped_from(row: Mapping[str, Any]) -> float | None:
    """The previous price when the item now costs less, else None."""
    now = _number(row.get("price"))
    before = _number(_field(row, PREVIOUS_PRICE))
    if now is None or before is None or now <= 0 or before <= now:
        return None
    return before


def _timestamp(value: Any) -> float | None:
    num = _number(value)
    if num is not None:
        return num
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def back_in_stock(row: Mapping[str, Any], now_ts: float) -> bool:
    """In stock now after being out of stock within the last :data:`RESTOCK_NEWS_DAYS`."""
    if not bool(row.get("in_stock", True)):
        return False
    at = _timestamp(_field(row, RESTOCKED_AT))
    return at is not None and 0.0 <= now_ts - at <= RESTOCK_NEWS_DAYS * 86400.0


def item_facts(row: Mapping[str, Any] | None, locale: str, cart: frozenset[str], now_ts: float) -> ItemFacts:
    """The facts of the item in ``row`` for a reader in ``locale`` whose cart holds ``cart``."""
    if row is None:
        return ItemFacts()
    item_id = str(row.get("item_id") or "")
    return ItemFacts(
        in_cart=bool(item_id) and item_id in cart,
        price_dropped_from=price_dropped_from(row),
        back_in_stock=back_in_stock(row, now_ts),
        category=str(row.get("category") or "").strip(),
        description=item_text(row, locale).description,
    )


def with_facts(req: CopyRequest, facts: ItemFacts) -> CopyRequest:
    """``req`` carrying ``facts``."""
    return replace(
        req,
        in_cart=facts.in_cart,
        price_dropped_from=facts.price_dropped_from,
        back_in_stock=facts.back_in_stock,
        item_category=facts.category,
        item_description=facts.description,
    )
