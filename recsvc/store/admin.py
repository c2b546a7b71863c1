"""``recsvc db status`` / ``recsvc db migrate``: the store's schema version, and bringing it up to date."""

from __future__ import annotations

from typing import Any

from recsvc.errors import Unavailable
from recsvc.store.config import PostgresConfig


def _connect(url: str, config: PostgresConfig) -> Any:
    import psycopg

    from recsvc.store.postgres import connect_kwargs, describe

    conninfo, kwargs = connect_kwargs(url, config)
    try:
        return psycopg.connect(conninfo, **kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable(
            f"paths.store: cannot connect to PostgreSQL at {describe(url)}: {first}", field="paths.store"
        ) from None


def db_status(location: str, config: PostgresConfig) -> dict[str, Any]:
    """The schema version the store has and the one this code knows; a too-new schema is refused."""
    from recsvc.store import is_postgres

    if not is_postgres(location):
        return {"backend": "sqlite", "location": location, "note": "SQLite tables are created when opened"}
    from recsvc.store.migrations import refuse_if_too_new, status
    from recsvc.store.postgres import describe

    with _connect(location, config) as conn:
        st = status(conn)
    refuse_if_too_new(st, describe(location))
    return {
        "backend": "postgresql",
        "location": describe(location),
        "schema_version": st.current,
        "code_version": st.latest,
        "pending": list(st.pending),
    }


def db_migrate(location: str, config: PostgresConfig) -> dict[str, Any]:
    """Apply the pending migrations (PostgreSQL) or create the tables (SQLite)."""
    from recsvc.store import is_postgres

    if not is_postgres(location):
        from recsvc.frequency.caps import CapLedger
        from recsvc.store.sqlite import SQLiteStore

        SQLiteStore(location).close()
        CapLedger(location).close()
        return {"backend": "sqlite", "location": location, "applied": []}
    from recsvc.store.migrations import LATEST, migrate
    from recsvc.store.postgres import describe

    with _connect(location, config) as conn:
        applied = migrate(conn, describe(location))
    return {"backend": "postgresql", "location": describe(location), "applied": applied, "schema_version": LATEST}
