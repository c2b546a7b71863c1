"""Every known user's lifecycle score and engagement tier, cached between requests.

Scored in bulk when a model set is installed, and refreshed for one user when their history
signature changed. Each entry is tagged with the signature and the model set it was computed from:
any process notices new events (written by itself or another process) on the next call, and an
entry an old model set wrote during a swap is never served with the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from recsvc.engine import scoring
from recsvc.engine.history import Signature
from recsvc.engine.models import ModelSet
from recsvc.engine.types import LifecycleView
from recsvc.settings import Settings
from recsvc.store import EventStore


@dataclass(frozen=True, slots=True)
class UserEntry:
    """One user's cached state and what it was computed from."""

    lifecycle: LifecycleView
    tier: str
    sig: Signature
    models: ModelSet


class UserStates:
    """The per-user cache of scores and tiers for the model set being served."""

    def __init__(self, store: EventStore, settings: Callable[[], Settings]) -> None:
        self._store = store
        self._settings = settings  # read per call: the engine's settings in force
        self._lock = threading.Lock()
        self._entries: dict[str, UserEntry] = {}
        self._serving: ModelSet | None = None
        self._cold: tuple[ModelSet, LifecycleView] | None = None

    def score_all(self, models: ModelSet) -> dict[str, UserEntry]:
        """Every known user scored with ``models`` (for :meth:`install`), so a request reads a cached score."""
        now = datetime.now(UTC)
        settings = self._settings()
        # Signatures first: an event that arrives while scoring makes its user's entry stale, not lost.
        sigs = self._store.history_signatures()
        entries: dict[str, UserEntry] = {}
        chunks = scoring.score_in_chunks(
            self._store, models, sorted(sigs), now, settings.frequency, settings.engine.score_chunk_users
        )
        for chunk in chunks:
            for uid, st in chunk.items():
                entries[uid] = UserEntry(st.lifecycle, st.tier, sigs[uid], models)
        return entries

    def install(self, models: ModelSet, entries: dict[str, UserEntry]) -> None:
        """Serve ``entries`` of ``models`` from now on; refreshes computed with another set are dropped."""
        with self._lock:
            self._entries, self._serving = entries, models

    def get(self, user_id: str, now: datetime, sig: Signature, models: ModelSet) -> tuple[LifecycleView, str]:
        """Cached score and tier; recomputed from all of the user's events when they changed."""
        if sig[0] == 0:  # a new user is not a dormant one: a welcome, within a low cap
            return self.cold_start(models), "low"
        with self._lock:
            hit = self._entries.get(user_id)
        if hit is not None and hit.sig == sig and hit.models is models:
            return hit.lifecycle, hit.tier
        state = scoring.score_users(self._store, models, [user_id], now, self._settings().frequency)[user_id]
        with self._lock:
            if self._serving is models:  # after a swap the new set's entry is the one to keep
                self._entries[user_id] = UserEntry(state.lifecycle, state.tier, sig, models)
        return state.lifecycle, state.tier

    def cold_start(self, models: ModelSet) -> LifecycleView:
        """The score of a user with no history, computed once per model set."""
        cold = self._cold
        if cold is None or cold[0] is not models:
            empty = self._store.events_for_user("\x00no-such-user", limit=1)
            feats = models.lifecycle.features(empty, pd.Timestamp(datetime.now(UTC)), users=["new"])
            view = scoring.lifecycle_view(models.lifecycle.score(feats)[0], int(models.lifecycle.horizon_days))
            cold = (models, view)
            self._cold = cold
        return cold[1]

    def user_ids(self) -> list[str]:
        """The users with a cached entry, in the order they were scored."""
        with self._lock:
            return list(self._entries)

    def sample(self) -> str | None:
        """Some user with a cached entry, or None when there is none."""
        with self._lock:
            return next(iter(self._entries), None)

    def tiers(self) -> dict[str, str]:
        """The cached engagement tier of every user with an entry."""
        with self._lock:
            return {u: e.tier for u, e in self._entries.items()}

    def __len__(self) -> int:
        return len(self._entries)
