"""The reads ``Recommend`` makes of each user before deciding (the user's row, history signature, cap
state, and the latest events its digest is made of), made once for a whole batch chunk.

A batch asks for hundreds of users at one time; reading them with a few ``user_id IN (...)``
statements costs far less than several small indexed reads per user. Each prefetched answer is
served once, to the call it was read for, and only at the time it was read for: anything else (a
user not prefetched, a second call for the same user) reads the store as usual, so the answers are
the per-user reads' own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from recsvc.engine.history import HISTORY_LIMIT, HistoryRow
from recsvc.frequency.caps import CapLedger, CapState
from recsvc.store import EventStore
from recsvc.store.rows import FeedbackRow

FEEDBACK_LIMIT = 100  # the feedback rows a digest reads (EventStore.feedback_rows' default)

UserAndState = tuple[dict[str, Any] | None, tuple[int, float], CapState]


class ChunkReads:
    """Prefetched :meth:`CapLedger.user_and_state` answers, per thread (each thread works on its own
    chunk, and one thread's bookings must not be missed by another's prefetched state)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def fill(self, caps: CapLedger, store: EventStore, user_ids: Sequence[str], now: datetime) -> None:
        """Read ``user_ids`` at ``now`` for the calls that follow in this thread."""
        self._local.now = now
        found = caps.users_and_states(store, user_ids, now)
        self._local.found = found
        # Users without events too: their (empty) history is read for ranking, though not for a digest.
        self._local.history, self._local.feedback = store.latest_rows_of(
            list(found), history_limit=HISTORY_LIMIT, feedback_limit=FEEDBACK_LIMIT
        )

    def take(self, user_id: str, now: datetime) -> UserAndState | None:
        """The prefetched answer for ``user_id`` at ``now`` (served once), or None: read it then."""
        found: dict[str, UserAndState] | None = getattr(self._local, "found", None)
        if found is None or self._local.now != now:
            return None
        return found.pop(user_id, None)

    def history_rows(self, user_id: str, limit: int) -> list[HistoryRow] | None:
        """The prefetched :meth:`EventStore.history_rows` (served once), or None: read them then."""
        history: dict[str, list[HistoryRow]] | None = getattr(self._local, "history", None)
        return history.pop(user_id, None) if history is not None and limit == HISTORY_LIMIT else None

    def feedback_rows(self, user_id: str, limit: int) -> list[FeedbackRow] | None:
        """The prefetched :meth:`EventStore.feedback_rows` (served once), or None: read them then."""
        feedback: dict[str, list[FeedbackRow]] | None = getattr(self._local, "feedback", None)
        return feedback.pop(user_id, None) if feedback is not None and limit == FEEDBACK_LIMIT else None

    def clear(self) -> None:
        self._local.found = self._local.history = self._local.feedback = None


class PrefetchedHistory:
    """The history reads of a :class:`~recsvc.engine.history.DigestCache`, answered from the chunk's
    prefetch where it has them, else from the store."""

    def __init__(self, store: EventStore, reads: ChunkReads) -> None:
        self._store = store
        self._reads = reads

    def history_signature(self, user_id: str) -> tuple[int, float]:
        return self._store.history_signature(user_id)

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[HistoryRow]:
        rows = self._reads.history_rows(user_id, limit)
        return rows if rows is not None else self._store.history_rows(user_id, limit=limit)

    def feedback_rows(self, user_id: str, *, limit: int = FEEDBACK_LIMIT) -> list[FeedbackRow]:
        rows = self._reads.feedback_rows(user_id, limit)
        return rows if rows is not None else self._store.feedback_rows(user_id, limit=limit)
