"""Why a product is recommended: the source that explains it and the sentence shown to the user.

Several sources may propose the same product; the most specific one (cart, repurchase,
co-occurrence, similarity, then the popularity lists) gives the reason.
"""

from __future__ import annotations

import numpy as np

from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.profile import UserProfile
from recsvc.recs.sources import SOURCE_INDEX
from recsvc.recs.unixtime import DAY

# which source explains a candidate when several proposed it
REASON_PRIORITY = (
    "cart",
    "repurchase",
    "co_occurrence",
    "embedding",
    "popular_city",
    "popular_segment",
    "popular_hour",
    "popular",
)


def explaining_source(flags: np.ndarray) -> str:
    """The source that explains a candidate, from its row of per-source flags."""
    return next(s for s in REASON_PRIORITY if flags[SOURCE_INDEX[s]])


def reason(
    src: str,
    row: int,
    profile: UserProfile,
    pipeline: CandidatePipeline,
    *,
    now: float,
    city: str,
    query_text: str | None,
) -> str:
    """The sentence for item ``row`` proposed by ``src`` to this user at unix time ``now``."""
    if src == "cart":
        return "in your cart"
    if src == "repurchase":
        days = int((now - profile.bought_last.get(row, now)) / DAY)
        return f"time to restock: you bought it {days} days ago"
    if src in ("co_occurrence", "embedding") and profile.has_history:
        return _from_history(src, row, profile, pipeline, query_text)
    if src == "embedding" and query_text:
        return f"matches “{query_text.strip()}”"
    if src == "embedding":
        return "similar to what you like"
    if src == "popular_city":
        return f"popular in {city} this week"
    if src == "popular_segment":
        return f"popular in {pipeline.items.text['category'][row] or 'your favourite category'}"
    if src == "popular_hour":
        return "popular at this time of day"
    return "popular right now"


def _from_history(
    src: str, row: int, profile: UserProfile, pipeline: CandidatePipeline, query_text: str | None
) -> str:
    """A co-occurrence or similarity reason that names the item of the user's history behind it."""
    titles = pipeline.items.text["title"]
    if src == "co_occurrence":
        has = (pipeline.stats.cooc_nbr[profile.rows] == row).any(axis=1)
        anchor = int(profile.rows[np.argmax(has)]) if has.any() else int(profile.rows[0])
        return f"often chosen together with {titles[anchor]}"
    if query_text and profile.query_vector is not None:
        return f"matches “{query_text.strip()}”"
    sims = pipeline.vectors(profile.rows) @ pipeline.vectors(np.array([row]))[0]
    anchor = int(profile.rows[int(np.argmax(sims))])
    verb = "bought" if anchor in profile.bought_last else "viewed"
    return f"because you {verb} {titles[anchor]}"
