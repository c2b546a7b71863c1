"""Where a bench's store lives: a SQLite file in a temporary folder, or a database on a throwaway
PostgreSQL cluster (the one the tests start), removed when the bench ends."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def store_location(postgres: bool, sqlite_name: str = "recsvc.db") -> Iterator[str]:
    """A store location (a file path or a ``postgresql://`` URL) that exists while the block runs."""
    if not postgres:
        with tempfile.TemporaryDirectory() as d:
            yield str(Path(d) / sqlite_name)
        return
    sys.path.insert(0, str(REPO))
    from tests.pg_cluster import start_cluster

    cluster = start_cluster()
    os.environ["RECSVC_POSTGRES_PASSWORD"] = cluster.password
    try:
        yield cluster.new_database()
    finally:
        cluster.destroy()
