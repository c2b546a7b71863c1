"""The reads ``Recommend`` makes of each user before deciding (the user's row, history signature and
cap state), made once for a whole batch chunk.

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

from recsvc.frequency.caps import CapLedger, CapState
from recsvc.store import EventStore

UserAndState = tuple[dict[str, Any] | None, tuple[int, float], CapState]


class ChunkReads:
    """Prefetched :meth:`CapLedger.user_and_state` answers, per thread (each thread works on its own
    chunk, and one thread's bookings must not be missed by another's prefetched state)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def fill(self, caps: CapLedger, store: EventStore, user_ids: Sequence[str], now: datetime) -> None:
        """Read ``user_ids`` at ``now`` for the calls that follow in this thread."""
        self._local.now = now
        self._local.found = caps.users_and_states(store, user_ids, now)

    def take(self, user_id: str, now: datetime) -> UserAndState | None:
        """The prefetched answer for ``user_id`` at ``now`` (served once), or None: read it then."""
        found: dict[str, UserAndState] | None = getattr(self._local, "found", None)
        if found is None or self._local.now != now:
            return None
        return found.pop(user_id, None)

    def clear(self) -> None:
        self._local.found = None
