"""The store interface that the engine, the server and the batch jobs use, whatever the backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd

from recsvc.store.rows import Derive, IngestResult


class EventStore(Protocol):
    """Users, items (with a commit-ordered stamp) and events (idempotent by event id)."""

    location: str  # the file path or the URL (without password) it was opened with

    def close(self) -> None: ...

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the store answers a trivial query now."""

    # ---- events
    def add_events(
        self, rows: Sequence[dict[str, Any]], *, derive: Derive | None = None
    ) -> tuple[IngestResult, list[bool]]: ...

    def import_events(
        self, df: pd.DataFrame, *, chunk: int = 50_000, derive: Derive | None = None
    ) -> IngestResult: ...

    def replay_events(
        self, derive: Derive, *, after_seq: int, event_types: Sequence[str], chunk: int = 100_000
    ) -> int: ...

    def events_for_user(self, user_id: str, *, limit: int = 500) -> pd.DataFrame: ...

    def lifecycle_rows(
        self, user_ids: Sequence[str], *, before: float | None = None
    ) -> list[tuple[str, float, str, str | None, float | None, int]]: ...

    def history_rows(self, user_id: str, *, limit: int = 500) -> list[tuple[str | None, str, float, str | None]]: ...

    def history_signature(self, user_id: str) -> tuple[int, float]: ...

    def history_signatures(self) -> dict[str, tuple[int, float]]: ...

    def max_event_seq(self) -> int: ...

    def most_active_users(
        self, *, event_type: str | None = None, limit: int = 1, offset: int = 0
    ) -> list[str]: ...

    def count_events(self, event_type: str) -> int: ...

    # ---- items
    def upsert_items(self, df: pd.DataFrame) -> int: ...

    def upsert_items_stamped(self, df: pd.DataFrame) -> tuple[int, float]: ...

    def items_watermark(self) -> float: ...

    def items_changed_since(self, stamp: float) -> pd.DataFrame: ...

    def items_frame(self) -> pd.DataFrame: ...

    def most_evented_items(self, limit: int) -> list[dict[str, Any]]: ...

    def some_item_id(self) -> str | None: ...

    def get_item(self, item_id: str) -> dict[str, Any] | None: ...

    def items_by_id(self, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    # ---- users
    def upsert_users(self, df: pd.DataFrame) -> int: ...

    def get_user(self, user_id: str) -> dict[str, Any] | None: ...

    # ---- misc
    def count(self, table: str) -> int: ...
