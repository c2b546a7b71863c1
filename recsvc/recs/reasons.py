"""Why a product is recommended: the source that explains it and the sentence shown to the user.

Several sources may propose the same product; the most specific one (cart, repurchase,
co-occurrence, similarity, then the popularity lists) gives the reason. A reason is kept as its
kind and the facts it names (an item of the user's history, a city, a query, a number of days), so
it can be said in the reader's locale with that item's title in the same locale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.profile import UserProfile
from recsvc.recs.sources import SOURCE_INDEX
from recsvc.recs.unixtime import DAY
from recsvc.vocabulary import DEFAULT_LOCALE, effective_locale

# The sentence of each kind of reason per copy locale; {item} is the title of the item it names.
PHRASES: dict[str, dict[str, str]] = {
    "en-US": {
        "cart": "in your cart",
        "still_in_cart": "still in your cart",
        "restock": "time to restock: you bought it {value} days ago",
        "together": "often chosen together with {item}",
        "bought": "because you bought {item}",
        "viewed": "because you viewed {item}",
        "query": "matches “{value}”",
        "similar": "similar to what you like",
        "popular_city": "popular in {value} this week",
        "popular_category": "popular in {value}",
        "popular_favourite": "popular in your favourite category",
        "popular_hour": "popular at this time of day",
        "popular": "popular right now",
    },
    "zh-CN": {
        "cart": "在你的购物车里",
        "still_in_cart": "还在你的购物车里",
        "restock": "该补货了：你{value}天前买过",
        "together": "常与{item}一起选购",
        "bought": "因为你买过{item}",
        "viewed": "因为你看过{item}",
        "query": "符合“{value}”",
        "similar": "和你喜欢的商品相似",
        "popular_city": "本周{value}热门",
        # Category keys are catalog identifiers, not words a zh-CN reader reads.
        "popular_category": "同类热门",
        "popular_favourite": "你喜欢的品类里的热门",
        "popular_hour": "这个时段的热门",
        "popular": "当下热门",
    },
}


@dataclass(frozen=True)
class Reason:
    """A reason in no language yet: its kind (a key of ``PHRASES``) and the facts it names."""

    kind: str
    value: str = ""  # the city, category, query or number of days the sentence names
    item_id: str = ""  # the item of the user's history the sentence names, if any
    item_title: str = ""  # that item's default title

    def text(self, locale: str = DEFAULT_LOCALE, title: Callable[[str], str | None] | None = None) -> str:
        """The sentence in ``locale``'s copy language; ``title`` gives the named item's title in that
        locale by id (its default title when ``title`` is None or has none)."""
        item = (title(self.item_id) if title is not None and self.item_id else None) or self.item_title
        return PHRASES[effective_locale(locale)][self.kind].format(value=self.value, item=item)


# which source explains a candidate when several proposed it
REASON_PRIORITY = (
    "cart",
    "repurchase",
    "co_occurrence",
    "ease",
    "embedding",
    "als",
    "popular_city",
    "popular_segment",
    "popular_hour",
    "popular_recent",
    "popular",
)


def explaining_source(flags: np.ndarray) -> str:
    """The source that explains a candidate, from its row of per-source flags ("popular" when no
    source of ``REASON_PRIORITY`` proposed it)."""
    return next((s for s in REASON_PRIORITY if flags[SOURCE_INDEX[s]]), "popular")


class HistoryNeighbours:
    """One user's history rows' neighbour lists and vectors, gathered once for all the reasons of a
    request instead of once per candidate."""

    def __init__(self, profile: UserProfile, pipeline: CandidatePipeline) -> None:
        self.profile = profile
        self.pipeline = pipeline

    @cached_property
    def cooc_nbr(self) -> np.ndarray:
        return self.pipeline.stats.cooc_nbr[self.profile.rows]

    @cached_property
    def ease(self) -> tuple[np.ndarray, np.ndarray]:
        stats = self.pipeline.stats
        return stats.ease_nbr[self.profile.rows], stats.ease_score[self.profile.rows]

    @cached_property
    def vectors(self) -> np.ndarray:
        return self.pipeline.vectors(self.profile.rows)


def reason(
    src: str,
    row: int,
    profile: UserProfile,
    pipeline: CandidatePipeline,
    *,
    now: float,
    city: str,
    query_text: str | None,
    history: HistoryNeighbours | None = None,
) -> Reason:
    """The reason for item ``row`` proposed by ``src`` to this user at unix time ``now`` (``history``:
    the profile's gathered neighbours, shared by the request's candidates)."""
    if src == "cart":
        return Reason("cart")
    if src == "repurchase":
        days = int((now - profile.bought_last.get(row, now)) / DAY)
        return Reason("restock", str(days))
    if src in ("co_occurrence", "ease", "embedding") and profile.has_history:
        return _from_history(src, row, history or HistoryNeighbours(profile, pipeline), query_text)
    if src == "embedding" and query_text:
        return Reason("query", query_text.strip())
    if src in ("embedding", "als"):
        # ALS matches the user's taste as a whole (their factor), not one item of the history
        return Reason("similar")
    if src == "popular_city":
        return Reason("popular_city", city)
    if src == "popular_segment":
        category = pipeline.items.text["category"][row]
        return Reason("popular_category", category) if category else Reason("popular_favourite")
    if src == "popular_hour":
        return Reason("popular_hour")
    return Reason("popular")


def _from_history(src: str, row: int, history: HistoryNeighbours, query_text: str | None) -> Reason:
    """A co-occurrence or similarity reason that names the item of the user's history behind it."""
    profile, pipeline = history.profile, history.pipeline
    if src == "co_occurrence":
        has = (history.cooc_nbr == row).any(axis=1)
        anchor = int(profile.rows[np.argmax(has)]) if has.any() else int(profile.rows[0])
        return _naming("together", anchor, pipeline)
    if src == "ease":
        # the history item whose EASE weight towards this one is the largest
        nbr, score = history.ease
        weights = np.where(nbr == row, score, 0.0).max(axis=1)
        return _naming("together", int(profile.rows[int(np.argmax(weights))]), pipeline)
    if query_text and profile.query_vector is not None:
        return Reason("query", query_text.strip())
    sims = history.vectors @ pipeline.vectors(np.array([row]))[0]
    anchor = int(profile.rows[int(np.argmax(sims))])
    return _naming("bought" if anchor in profile.bought_last else "viewed", anchor, pipeline)


def _naming(kind: str, anchor: int, pipeline: CandidatePipeline) -> Reason:
    items = pipeline.items
    return Reason(kind, item_id=items.ids[anchor], item_title=items.text["title"][anchor])
