"""Experiments declared through the API, beside those of the settings file.

They are kept in the store's ``experiments`` table (one row per id, its definition as JSON), so
every server process and host applies them: each reads the table again when its copy is older than
``engine.experiments_refresh_s``. Ids are unique across both sources; an experiment of the settings
file is changed in the file, not here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from recsvc.errors import FailedPrecondition, NotFound
from recsvc.experiments.definitions import Experiment, experiment_from_mapping, experiment_to_mapping
from recsvc.store import EventStore
from recsvc.store.cursor import qmark
from recsvc.store.sqlite import SQLiteStore
from recsvc.store.sqlite_connect import connect_sqlite

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
  id TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  created_at REAL NOT NULL
);
"""


class ExperimentRegistry:
    """The declared experiments: ``declared()`` (the settings file's) and, when ``use_stored``, the API's."""

    def __init__(
        self,
        store: EventStore,
        declared: Callable[[], Sequence[Experiment]],
        refresh_s: float = 5.0,
        use_stored: bool = True,
    ) -> None:
        self._store = store
        self._declared = declared
        self._refresh_s = refresh_s
        self._use_stored = use_stored
        self._lock = threading.Lock()
        self._stored: tuple[Experiment, ...] = ()
        self._read_at = -float("inf")
        if isinstance(store, SQLiteStore):
            with self._cursor() as cur:
                cur.executescript(SQLITE_SCHEMA)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if isinstance(self._store, SQLiteStore):
            # Calls are rare (a refresh every few seconds, an API call), so a connection each time.
            conn = connect_sqlite(self._store.path)
            try:
                yield conn.cursor()
            finally:
                conn.close()
            return
        connection = self._store.connection  # type: ignore[attr-defined]  # PostgresStore
        with connection() as conn, conn.cursor() as cur:
            yield qmark(cur)

    def _read_stored(self) -> tuple[Experiment, ...]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT id, definition FROM experiments ORDER BY created_at, id").fetchall()
        return tuple(experiment_from_mapping(json.loads(d), f"experiments table row {i!r}") for i, d in rows)

    def stored(self, *, fresh: bool = False) -> tuple[Experiment, ...]:
        if not self._use_stored:
            return ()
        now = time.monotonic()
        with self._lock:
            if fresh or now - self._read_at >= self._refresh_s:
                self._stored = self._read_stored()
                self._read_at = now
            return self._stored

    def all(self) -> tuple[Experiment, ...]:
        """The settings file's experiments first, then the API's in the order they were created."""
        return (*self._declared(), *self.stored())

    def from_settings(self, experiment_id: str) -> bool:
        return any(e.id == experiment_id for e in self._declared())

    def create(self, exp: Experiment, now: datetime) -> Experiment:
        """Store ``exp`` (validated by the caller); starts now when it has no start."""
        if exp.start is None:
            exp = replace(exp, start=now)
        if self.from_settings(exp.id):
            raise FailedPrecondition(
                f"experiment.id {exp.id!r} is declared in the settings file", field="experiment.id"
            )
        exp.validate("experiment")
        with self._cursor() as cur:
            done = cur.execute(
                "INSERT INTO experiments (id, definition, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (exp.id, json.dumps(experiment_to_mapping(exp)), now.timestamp()),
            )
            if int(done.rowcount) != 1:
                raise FailedPrecondition(f"experiment.id {exp.id!r} already exists", field="experiment.id")
        self.stored(fresh=True)
        return exp

    def stop(self, experiment_id: str, at: datetime) -> Experiment:
        """End an API experiment at ``at`` (an experiment already stopped before keeps its stop)."""
        if self.from_settings(experiment_id):
            raise FailedPrecondition(
                f"experiment_id {experiment_id!r} is declared in the settings file; end it there (stop)",
                field="experiment_id",
            )
        found = [e for e in self.stored(fresh=True) if e.id == experiment_id]
        if not found:
            raise NotFound(f"experiment_id: no experiment {experiment_id!r}", field="experiment_id")
        exp = found[0]
        if exp.stop is not None and exp.stop <= at:
            return exp
        if exp.start is not None and at <= exp.start:
            raise FailedPrecondition(
                f"at: experiment {experiment_id!r} starts at {exp.start.isoformat()}; a stop must be after it",
                field="at",
            )
        exp = replace(exp, stop=at)
        with self._cursor() as cur:
            cur.execute(
                "UPDATE experiments SET definition = ? WHERE id = ?", (json.dumps(experiment_to_mapping(exp)), exp.id)
            )
        self.stored(fresh=True)
        return exp
