"""Shared fixtures: where the real data sets live, and offline model loading."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.pg_cluster import ClusterUnavailable, PgCluster, start_cluster

PASSWORD_ENV = "RECSVC_POSTGRES_PASSWORD"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of the shared real data sets: ``RECSVC_DATA_DIR``, else ``../shared/data`` beside the
    repository. It may be missing; tests that need a data set skip when it is."""
    return Path(os.environ.get("RECSVC_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data(data_dir: Path) -> Path:
    """The shared real data sets; skips with a clear message when they are absent."""
    if not (data_dir / "ml-100k").is_dir() or not (data_dir / "cdnow").is_dir():
        pytest.skip(
            f"real data sets not found in {data_dir} (set RECSVC_DATA_DIR to the folder holding cdnow/ and ml-100k/)"
        )
    return data_dir


# ---- PostgreSQL ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL 15 cluster for the whole session, stopped and removed at its end.

    Where PostgreSQL cannot be started the tests that need it skip, except in CI (env ``CI`` set),
    where they fail: there they must run."""
    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {exc}")
    old = os.environ.get(PASSWORD_ENV)
    os.environ[PASSWORD_ENV] = cluster.password  # servers started by tests inherit it
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = old
        cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL (no password: it is in the environment) of a fresh database of its own."""
    return pg_cluster.new_database()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent through a psycopg cursor (each one a round trip to the server)."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    return sent


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``paths.store`` of an empty store of each backend: a SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "db.sqlite")
    return str(request.getfixturevalue("pg_url"))
