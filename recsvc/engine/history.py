"""A user's recent events as one request reads them, and what says they changed.

The history signature (count and last time of a user's events) is one indexed read; every per-user
cache of the engine is tagged with it, so an event written by any process is noticed on the next
call. The rows themselves (at most :data:`HISTORY_LIMIT`) are read only when the signature changed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from recsvc.copy.facts import cart_items
from recsvc.frequency.channels import ChannelStats, channel_stats_from
from recsvc.settings import EngineConfig

# How many of a user's most recent events a request reads: the recs model's history, the items
# pushed lately, channel statistics and the profile's recent items. Lifecycle scores and engagement
# tiers read every event instead (see recsvc.engine.scoring).
HISTORY_LIMIT = 300

Signature = tuple[int, float]  # (number of the user's events, time of the last one): see Store.history_signature
HistoryRow = tuple[str | None, str, float, str | None]  # (item_id, event_type, unix ts, channel): Store.history_rows


class HistoryReads(Protocol):
    """The store reads a digest is made of (an :class:`~recsvc.store.EventStore` has them)."""

    def history_signature(self, user_id: str) -> Signature: ...

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[HistoryRow]: ...

    def feedback_rows(self, user_id: str, *, limit: int = 100) -> list[tuple[float, str | None, str | None]]: ...


def recs_history(
    store: HistoryReads, user_id: str, rows: Sequence[HistoryRow] | None = None
) -> list[tuple[str, str, float]]:
    """The user's recent ``(item_id, event_type, ts)`` with an item, oldest first (recs input), from
    ``rows`` when the caller already read them (the user's latest :data:`HISTORY_LIMIT`), else read here."""
    if rows is None:
        rows = store.history_rows(user_id, limit=HISTORY_LIMIT)
    return [(i, et, ts) for i, et, ts, _ in rows if i]


@dataclass(frozen=True)
class Digest:
    """What a request needs from a user's recent events besides the recs history, kept until the
    history signature changes, so a request does not read and walk the rows again."""

    sig: Signature
    pushes: tuple[tuple[str, float], ...]  # (item_id, ts) of push_delivered events
    channel_stats: dict[str, ChannelStats] | None
    cart: frozenset[str] = frozenset()  # items added to the cart and neither bought nor removed since
    feedback: tuple[tuple[float, str | None, str | None], ...] = ()  # (ts, item_id, payload), oldest first

    def pushed_since(self, ts: float) -> frozenset[str]:
        """Items pushed to the user at or after unix time ``ts``."""
        return frozenset(i for i, at in self.pushes if at >= ts)


class DigestCache:
    """The :class:`Digest` of recently seen users, least recently used dropped first; it holds as
    many users as the candidate cache (``engine.candidate_cache_size``)."""

    def __init__(self, store: HistoryReads, config: Callable[[], EngineConfig]) -> None:
        self._store = store
        self._config = config  # read per call: the engine's settings in force
        self._digests: OrderedDict[str, Digest] = OrderedDict()
        self._lock = threading.Lock()
        # The rows of this thread's latest read, so the request that read them to make a digest can
        # rank from them too instead of reading the same rows again (one user's rows per thread).
        self._last = threading.local()

    def get(self, user_id: str, sig: Signature | None = None) -> Digest:
        """The user's digest, recomputed from the rows only when their signature changed (``sig``: the
        signature the caller has just read, else read here)."""
        if sig is None:
            sig = self._store.history_signature(user_id)
        with self._lock:
            hit = self._digests.get(user_id)
            if hit is not None and hit.sig == sig:
                self._digests.move_to_end(user_id)
                return hit
        d = self._read(user_id, sig)
        with self._lock:
            self._digests[user_id] = d
            self._digests.move_to_end(user_id)
            while len(self._digests) > self._config().candidate_cache_size:
                self._digests.popitem(last=False)
        return d

    def last_rows(self, user_id: str, sig: Signature) -> list[HistoryRow] | None:
        """The rows this thread last read for a digest, if they were ``user_id``'s at ``sig``; else None."""
        read = getattr(self._last, "read", None)
        return read[2] if read is not None and read[0] == user_id and read[1] == sig else None

    def _read(self, user_id: str, sig: Signature) -> Digest:
        if sig[0] == 0:
            return Digest(sig, (), None)
        rows = self._store.history_rows(user_id, limit=HISTORY_LIMIT)
        self._last.read = (user_id, sig, rows)
        return Digest(
            sig,
            tuple((str(i), ts) for i, et, ts, _ in rows if et == "push_delivered" and i),
            channel_stats_from((et, ch) for _, et, _, ch in rows),
            cart_items(rows),
            tuple(self._store.feedback_rows(user_id)),
        )
