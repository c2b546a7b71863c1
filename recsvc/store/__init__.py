"""The store: SQLite (one file, the embedded default) or PostgreSQL (shared by several hosts).

``paths.store`` chooses: a ``postgresql://`` URL opens :class:`~recsvc.store.postgres.PostgresStore`,
anything else is the SQLite file's path. Both implement :class:`EventStore`.
"""

from __future__ import annotations

from recsvc.store.config import PostgresConfig
from recsvc.store.protocol import EventStore
from recsvc.store.rows import RESTOCKED_AT, Derive, IngestResult, event_id_for
from recsvc.store.sqlite import SQLiteStore

# The SQLite store under its historical name: code and tests that open a file by path.
Store = SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str) -> bool:
    """Whether ``paths.store`` names a PostgreSQL database rather than a SQLite file."""
    return str(location).startswith(POSTGRES_SCHEMES)


def open_store(location: str, postgres: PostgresConfig | None = None) -> EventStore:
    """The store ``location`` names: a ``postgresql://`` URL or a SQLite file path."""
    if is_postgres(location):
        from recsvc.store.postgres import PostgresStore

        return PostgresStore(location, postgres or PostgresConfig())
    return SQLiteStore(location)


__all__ = [
    "RESTOCKED_AT",
    "Derive",
    "EventStore",
    "IngestResult",
    "PostgresConfig",
    "SQLiteStore",
    "Store",
    "event_id_for",
    "is_postgres",
    "open_store",
]
