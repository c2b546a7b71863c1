"""The outcome log beside a store: sends written by the caps ledger's booking hook, events attributed
in the transaction that stores them, and metrics read back.

On SQLite the tables live in the store's file and are created here; reads use a connection of this
log's own (WAL readers never block writers). On PostgreSQL the tables come from the store's
migrations and reads use the store's pool.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd

from recsvc.outcomes import report_frames
from recsvc.outcomes.attribution import Attribution, attribute_events
from recsvc.outcomes.config import AttributionConfig
from recsvc.outcomes.exposures import RETENTION_DAYS, Exposure, RetentionRow, retention_rows, write_exposures
from recsvc.outcomes.metrics import OutcomeQuery, OutcomeRow, outcome_rows
from recsvc.outcomes.schema import SQLITE_SCHEMA
from recsvc.outcomes.sends import SendRecord, booking_hook
from recsvc.store import EventStore
from recsvc.store.cursor import qmark
from recsvc.store.rows import Derive
from recsvc.store.sqlite import SQLiteStore
from recsvc.store.sqlite_connect import connect_sqlite

TOTAL_NAMES = ("sends", "delivered", "opens", "clicks", "conversions", "revenue", "unsubscribes", "feedback_count")


class OutcomeLog:
    """Sends and their outcomes in ``store``'s database."""

    def __init__(self, store: EventStore, config: AttributionConfig | None = None) -> None:
        self.config = (config or AttributionConfig()).validate()
        self._store = store
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        if isinstance(store, SQLiteStore):
            self._sqlite = connect_sqlite(store.path)
            self._sqlite.executescript(SQLITE_SCHEMA)

    def close(self) -> None:
        if self._sqlite is not None:
            with self._lock:
                self._sqlite.close()

    @contextmanager
    def _read(self) -> Iterator[Any]:
        if self._sqlite is not None:
            with self._lock:
                yield self._sqlite.cursor()
            return
        connection = self._store.connection  # type: ignore[attr-defined]  # PostgresStore
        with connection() as conn, conn.cursor() as cur:
            yield qmark(cur)

    # ---- writes, inside other modules' transactions ------------------------------------------
    @staticmethod
    def booking_hook(record: SendRecord) -> Callable[[Any, Any], None]:
        """For ``CapLedger.reserve(on_booked=...)``: writes ``record`` with the booking."""
        return booking_hook(record)

    def deriving(self, base: Derive | None, keys: Mapping[str, str], out: list[Attribution] | None = None) -> Derive:
        """A store ``derive`` that runs ``base`` (the caps ledger's), then attributes the new events;
        ``keys`` maps event ids to the dedupe keys their callers gave; attributions are appended to ``out``."""

        def derive(cur: Any, rows: Sequence[dict[str, Any]]) -> None:
            if base is not None:
                base(cur, rows)
            done = attribute_events(cur, rows, keys, self.config)
            if out is not None:
                out.extend(done)

        return derive

    def expose(self, exposures: Sequence[Exposure]) -> None:
        """Record who experiments assigned at decision time (first exposure per user and experiment)."""
        if exposures:
            with self._read() as cur:
                write_exposures(cur, exposures)

    # ---- reads -------------------------------------------------------------------------------
    def outcomes(self, query: OutcomeQuery) -> list[OutcomeRow]:
        with self._read() as cur:
            return outcome_rows(cur, query)

    def totals(self, since: datetime, until: datetime) -> dict[str, float]:
        """The totals of sends booked in ``[since, until)``, by name (for GetMetrics)."""
        row = self.outcomes(OutcomeQuery(since, until))[0]
        values = {name: float(getattr(row, name)) for name in TOTAL_NAMES}
        values.update(row.rates())
        return values

    def retention(
        self,
        experiment: str,
        now: datetime,
        days: Sequence[int] = RETENTION_DAYS,
        cohort: tuple[datetime, datetime] | None = None,
    ) -> list[RetentionRow]:
        """Day-N retention per arm of ``experiment`` ('' : pushed against the global control group),
        of the users first exposed in ``cohort`` (``[since, until)``) when given."""
        with self._read() as cur:
            return retention_rows(cur, experiment, now, days, cohort)

    def send(self, dedupe_key: str) -> dict[str, Any] | None:
        """The stored row of one send (outcome columns included), or None."""
        with self._read() as cur:
            c = cur.execute("SELECT * FROM outcome_sends WHERE dedupe_key=?", (dedupe_key,))
            row = c.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in c.description], tuple(row), strict=True))

    def report_frames(self, since_ts: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Sends booked since ``since_ts`` (UTC seconds) with their outcomes, and the period's feedback
        answers: what ``recsvc report`` draws (see :mod:`recsvc.outcomes.report_frames`)."""
        with self._read() as cur:
            return report_frames.sends_frame(cur, since_ts), report_frames.feedback_frame(cur, since_ts)
