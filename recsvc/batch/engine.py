"""The engine a batch run uses: every user scored at the run's time, one chunk at a time.

A serving engine scores every known user when its models load (at that moment) and serves those
scores. A batch run instead scores each chunk's users in one vectorized call at ``--as-of``, just
before it asks ``Recommend`` for them: loading is quick for any number of users, memory holds one
chunk's scores, and a row depends only on the user, the time and the models, never on when or in
which process the models were loaded. So a chunk computed by a Dask worker equals the same chunk
computed by the single-process run.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from recsvc.batch.allocator import keep_freed_memory
from recsvc.engine import scoring
from recsvc.engine.candidates import CandidateCache
from recsvc.engine.engine import Engine
from recsvc.engine.history import DigestCache, Signature
from recsvc.engine.models import ModelSet
from recsvc.engine.prefetch import ChunkReads, PrefetchedHistory
from recsvc.engine.types import LifecycleView, RecommendQuery, RecommendResult
from recsvc.engine.user_state import UserEntry, UserStates
from recsvc.frequency.caps import CapState
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.settings import Settings

BATCH_CACHE_USERS = 64
BATCH_HOUR_ADJUST_USERS = 2_000  # a few chunks' users: each is asked about once or twice in a row
GC_THRESHOLD = 20_000  # allocations between young-generation collections (Python's default: 700)


class _ChunkStates(UserStates):
    """User states filled per chunk by :meth:`BatchEngine.score_chunk`, not all at load."""

    def score_all(self, models: ModelSet) -> dict[str, UserEntry]:
        return {}

    def put(self, models: ModelSet, entries: dict[str, UserEntry]) -> None:
        """Serve exactly ``entries`` (the chunk being worked on) with ``models``."""
        self.install(models, entries)


class BatchEngine(Engine):
    """An :class:`Engine` whose user states are the current chunk's, scored at the run's time."""

    rank_shown_only = True

    def __init__(self, settings: Settings) -> None:
        # A campaign encodes no text (no query; catalog changes since training are rare), so the
        # encoder loads on first use only: each batch process starts without importing torch.
        # A batch meets each user once, so ranked candidates and digests kept for later requests
        # would only grow with the users done (about 10 KB each); a small cache keeps memory flat.
        # The rows do not change: each user's candidates are ranked the same way either way.
        settings = settings.with_overrides(
            engine={"candidate_cache_size": min(settings.engine.candidate_cache_size, BATCH_CACHE_USERS)}
        )
        super().__init__(settings, encoder=SentenceTransformerEncoder(settings.recs.embedding_model or None, lazy=True))
        self._chunk_states = _ChunkStates(self.store, lambda: self.settings)
        self._states = self._chunk_states
        self._reads = ChunkReads()
        history = PrefetchedHistory(self.store, self._reads)
        self._digests = DigestCache(history, lambda: self.settings.engine)
        self._candidates = CandidateCache(history, lambda: self.settings.engine, self._catalog.version, self._counters)

    def recommend_many(
        self,
        queries: Sequence[RecommendQuery],
        keep: Callable[[dict[str, Any], LifecycleView, str], bool] | None = None,
    ) -> list[RecommendResult | None]:
        """:meth:`Engine.recommend_many`, with the users' rows, signatures and cap states read for all
        of them at once (when they share one time, as a chunk's queries do)."""
        times = {q.now for q in queries}
        if len(times) == 1:
            self._reads.fill(self.caps, self.store, [q.user_id for q in queries], times.pop())
        try:
            return super().recommend_many(queries, keep)
        finally:
            self._reads.clear()

    def _user_and_state(self, q: RecommendQuery) -> tuple[dict[str, Any] | None, Signature, CapState]:
        return self._reads.take(q.user_id, q.now) or super()._user_and_state(q)

    def load_models(self, paths: dict[str, Path] | None = None) -> None:
        """Load the models, and compile the products ranker to native trees: a batch scores every
        user's candidates, where LightGBM's per-row cost is most of a row's time. Compiling happens
        once per model and machine (the object is cached); the rows are the same either way."""
        super().load_models(paths)
        # Per-user hour multipliers kept for later requests would only grow with the users done
        # (about 350 bytes each: 180 MB per process at the serving bound, for nothing).
        self.models.sendtime.adjust_cache_users = BATCH_HOUR_ADJUST_USERS
        if self.settings.recs.compiled_ranker:
            self.models.recs.ranker.compile()
        # The models are millions of long-lived objects that every full garbage collection would walk
        # again, and a chunk allocates many short-lived ones that reference counting frees anyway:
        # keep the loaded objects out of collections, and collect less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        keep_freed_memory()  # a Dask worker starts with an allocator that returns every large block at once

    def score_chunk(self, user_ids: Sequence[str], as_of: datetime, *, reasons: bool = True) -> None:
        """Score ``user_ids`` from all their events before ``as_of`` (one read, one model call), for
        the ``user_state`` and ``recommend`` calls on them that follow. ``reasons=False`` leaves out
        the churn reasons (a campaign's rows show none; its scores, stages and rows are the same)."""
        models = self.models
        sigs = {u: sig for u, (_, sig) in self.store.users_and_signatures(user_ids).items()}
        known = [u for u, sig in sigs.items() if sig[0] > 0]
        freq = self.settings.frequency
        states = scoring.score_users(self.store, models, known, as_of, freq, reasons=reasons) if known else {}
        entries = {u: UserEntry(s.lifecycle, s.tier, sigs[u], models) for u, s in states.items()}
        self._chunk_states.put(models, entries)
