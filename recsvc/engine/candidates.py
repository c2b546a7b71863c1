"""Ranked candidates of one user and context, cached between requests; cart items put first.

Ranking is the costly part of a request, and its inputs change far less often than requests come:
an entry is reused until the user's history, the model set or the catalog changes, or
``engine.candidate_cache_s`` passes (popularity drifts). Free-text queries are never cached.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from recsvc.engine.counters import Counters, Version
from recsvc.engine.history import HistoryReads, HistoryRow, Signature, recs_history
from recsvc.engine.models import ModelSet
from recsvc.recs.reasons import Reason
from recsvc.recs.serving import Candidate, RecRequest
from recsvc.settings import EngineConfig
from recsvc.store import EventStore

# (request, history signature, cart, history rows when read, build only the shown): what ranked() takes
RankAsk = tuple[RecRequest, Signature, tuple[str, ...], list[HistoryRow] | None, bool]


@dataclass(frozen=True)
class _Entry:
    sig: Signature
    models: ModelSet
    items_version: int
    at: float  # time.monotonic() when ranked
    k: int  # how many were ranked: a request for fewer is served from the same entry
    cands: tuple[Candidate, ...]


class CandidateCache:
    """Ranked candidates per ``(user, city, trigger, stage, cart)``, least recently used dropped first."""

    def __init__(
        self, store: HistoryReads, config: Callable[[], EngineConfig], items_version: Version, counters: Counters
    ) -> None:
        self._store = store
        self._config = config  # read per call: the engine's settings in force
        self._items_version = items_version  # bumped whenever this process indexes new items
        self._counters = counters
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def ranked(
        self,
        req: RecRequest,
        sig: Signature,
        cart: tuple[str, ...],
        models: ModelSet,
        rows: list[HistoryRow] | None = None,
        *,
        shown_only: bool = False,
    ) -> list[Candidate]:
        """The top ``req.k`` candidates of ``req``. Its ``history`` is made from ``rows`` (the user's
        history rows at ``sig``, when the caller has them) or read here, and only on a miss.
        ``shown_only``: rank as deep as always (the same top ``req.k``), but build only those."""
        return self.ranked_many([(req, sig, cart, rows, shown_only)], models)[0]

    def ranked_many(self, asks: Sequence[RankAsk], models: ModelSet) -> list[list[Candidate]]:
        """:meth:`ranked` of each ask ``(req, sig, cart, rows, shown_only)``; the ones to rank are
        ranked together (:meth:`~recsvc.recs.serving.RecsModel.recommend_many`)."""
        cfg = self._config()
        now = time.monotonic()
        # Read before ranking: an upsert during the ranking leaves this entry stale, not the new items unseen.
        items_version = self._items_version.value
        out: list[list[Candidate]] = [[] for _ in asks]
        todo: list[tuple[int, RecRequest, int | None, tuple[Any, ...] | None]] = []
        for i, (req, sig, cart, rows, shown_only) in enumerate(asks):
            if cfg.candidate_cache_s <= 0 or req.query_text:
                history = recs_history(self._store, req.user_id, rows)
                todo.append((i, dataclasses.replace(req, history=history), None, None))
                continue
            key = (req.user_id, req.city, req.trigger, req.stage, cart, req.policy)
            with self._lock:
                hit = self._entries.get(key)
            if (
                hit is not None
                and hit.sig == sig
                and hit.models is models
                and hit.items_version == items_version
                and now - hit.at < cfg.candidate_cache_s
                and hit.k >= req.k
            ):
                self._counters.inc("candidate_cache_hits")
                out[i] = list(hit.cands[: req.k])
                continue
            k = max(req.k, cfg.default_candidates * 4)
            history = recs_history(self._store, req.user_id, rows)
            todo.append((i, dataclasses.replace(req, k=k, history=history), req.k if shown_only else None, key))
        recs = models.recs
        if len(todo) == 1:  # one request (a server's): the one-user path, without the block's setup
            ranked = [recs.recommend(todo[0][1], build=todo[0][2])]
        else:
            ranked = recs.recommend_many([t[1] for t in todo], [t[2] for t in todo])
        for (i, req, build, cache_key), cands in zip(todo, ranked, strict=True):
            if cache_key is None:
                out[i] = cands
                continue
            with self._lock:
                self._entries[cache_key] = _Entry(asks[i][1], models, items_version, now, build or req.k, tuple(cands))
                self._entries.move_to_end(cache_key)
                while len(self._entries) > cfg.candidate_cache_size:
                    self._entries.popitem(last=False)
            self._counters.inc("candidate_cache_misses")
            out[i] = cands[: asks[i][0].k]
        return out

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_STILL_IN_CART = Reason("still_in_cart")


def cart_first(store: EventStore, cands: list[Candidate], cart: Sequence[str]) -> list[Candidate]:
    """``cands`` with the cart's items first; cart items the ranking left out are added from the catalog."""
    ids = {c.item_id for c in cands}
    front = [c for c in cands if c.item_id in cart]
    rest = [c for c in cands if c.item_id not in cart]
    for item_id in cart:
        if item_id in ids:
            continue
        row = store.get_item(item_id)
        if row:
            front.append(
                Candidate(
                    item_id=item_id,
                    title=row["title"],
                    price=float(row["price"] or 0),
                    currency=row["currency"],
                    category=row["category"],
                    image_url=row["image_url"],
                    video_url=row["video_url"],
                    audio_url=row["audio_url"],
                    score=1.0,
                    source="cart",
                    reason=_STILL_IN_CART.text(),
                    description=row["description"],
                    why=_STILL_IN_CART,
                )
            )
    return front + rest
