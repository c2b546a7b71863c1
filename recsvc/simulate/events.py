"""The events a simulated day leaves behind, as an app would report them to ``ReportEvents``.

Organic visits: an ``app_open`` at the user's session time, a ``view`` of an item in a category of
interest and, sometimes, its ``purchase``. Pushes: ``push_delivered`` at the send time, then
``push_opened``, ``push_clicked``, a ``view`` and a ``purchase`` of the pushed item, or
``push_dismissed`` / ``unsubscribe``; every push event carries the send's dedupe key, so the service
attributes it to its send.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsvc.simulate.response import Answers, DayDraws, Population, Pushes

PUSH = "app_push"


def day_events(
    pop: Population,
    d: DayDraws,
    day_start: float,
    organic_active: np.ndarray,
    p: Pushes,
    send_ts: np.ndarray,
    a: Answers,
) -> list[dict[str, Any]]:
    """Every event of the day, in time order (``ts`` in UTC seconds)."""
    rows: list[dict[str, Any]] = []
    for u in np.flatnonzero(organic_active):
        uid = pop.user_ids[u]
        t = day_start + (d.session_hour[u] * 3600.0 - pop.offset_s[u]) % 86400.0
        item = int(d.view_item[u])
        rows.append({"user_id": uid, "ts": t, "event_type": "app_open"})
        rows.append({"user_id": uid, "ts": t + 30, "event_type": "view", "item_id": pop.item_ids[item]})
        if d.organic_buy[u] < 0.06 * pop.interest[u, pop.item_category[item]]:
            rows.append(_purchase(pop, uid, item, t + 300, ""))
    for k, u in enumerate(p.users):
        if not a.delivered[k]:
            continue
        uid, item, t = pop.user_ids[u], int(p.items[k]), float(send_ts[k])
        key = p.keys[k] if p.keys else ""
        base = {"user_id": uid, "channel": PUSH, "variant": p.variants[k], "dedupe_key": key}
        rows.append({**base, "ts": t, "event_type": "push_delivered", "item_id": pop.item_ids[item]})
        later = t + 60.0 * float(d.minute[u])
        if a.opened[k]:
            rows.append({**base, "ts": later, "event_type": "push_opened", "item_id": pop.item_ids[item]})
            rows.append({"user_id": uid, "ts": later + 1, "event_type": "app_open"})
        if a.clicked[k]:
            rows.append({**base, "ts": later + 5, "event_type": "push_clicked", "item_id": pop.item_ids[item]})
            rows.append({"user_id": uid, "ts": later + 10, "event_type": "view", "item_id": pop.item_ids[item]})
        if a.bought[k]:
            rows.append(_purchase(pop, uid, item, later + 240, key))
        if a.dismissed[k]:
            rows.append({**base, "ts": later, "event_type": "push_dismissed", "item_id": pop.item_ids[item]})
        if a.unsubscribed[k]:
            rows.append({**base, "ts": later, "event_type": "unsubscribe"})
    rows.sort(key=lambda r: r["ts"])
    return rows


def _purchase(pop: Population, uid: str, item: int, t: float, key: str) -> dict[str, Any]:
    return {
        "user_id": uid,
        "ts": t,
        "event_type": "purchase",
        "item_id": pop.item_ids[item],
        "quantity": 1,
        "value": float(pop.item_price[item]),
        "dedupe_key": key,
    }
