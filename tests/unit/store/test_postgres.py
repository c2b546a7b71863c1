"""What only the PostgreSQL store has: schema versions, the password rule, an unreachable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from recsvc.errors import FailedPrecondition, InvalidArgument, Unavailable
from recsvc.settings import load_settings
from recsvc.store import PostgresConfig, open_store
from recsvc.store.migrations import LATEST, MIGRATIONS, SchemaStatus, status
from recsvc.store.postgres import PostgresStore
from tests.pg_cluster import PgCluster, free_port

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECSVC_PATHS_STORE": store}
    return subprocess.run(
        [sys.executable, "-m", "recsvc.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, password=os.environ["RECSVC_POSTGRES_PASSWORD"], autocommit=True)


def test_migrations_are_numbered_in_order() -> None:
    versions = [v for v, _ in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[-1] == LATEST


def test_db_migrate_and_status_from_the_cli(pg_url: str) -> None:
    with _connect(pg_url) as conn:
        assert status(conn).current == 0
    out = _cli("db", "status", store=pg_url)
    assert out.returncode == 0 and json.loads(out.stdout)["pending"] == [v for v, _ in MIGRATIONS]
    out = _cli("db", "migrate", store=pg_url)
    assert out.returncode == 0, out.stderr
    with _connect(pg_url) as conn:
        st = status(conn)
    assert (st.current, st.pending) == (LATEST, ())
    assert _cli("db", "migrate", store=pg_url).returncode == 0  # nothing left to do, still fine


def test_store_opened_by_many_hosts_at_once_migrates_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_store(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with _connect(pg_url) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert applied == [v for v, _ in MIGRATIONS]


def test_a_step_below_the_highest_applied_is_still_applied(pg_url: str) -> None:
    # Steps written side by side can land in any order: a database may have a later one already.
    open_store(pg_url).close()
    with _connect(pg_url) as conn:
        conn.execute("DROP TABLE copy_cache")
        conn.execute("DELETE FROM schema_version WHERE version = 4")
    assert status_of(pg_url).pending == (4,)
    open_store(pg_url).close()
    with _connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM copy_cache").fetchone() == (0,)
    assert status_of(pg_url).pending == ()


def status_of(url: str) -> SchemaStatus:
    with _connect(url) as conn:
        return status(conn)


def test_a_schema_newer_than_the_code_is_refused(pg_url: str) -> None:
    open_store(pg_url).close()
    with _connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (LATEST + 1,))
    with pytest.raises(FailedPrecondition) as err:
        open_store(pg_url)
    assert f"has step(s) {LATEST + 1}, newer" in str(err.value) and err.value.field == "paths.store"
    for action in ("status", "migrate"):
        out = _cli("db", action, store=pg_url)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and "newer than this recsvc knows" in lines[0], out.stderr


def test_a_password_in_the_url_is_refused(pg_cluster: PgCluster) -> None:
    url = f"postgresql://postgres:{pg_cluster.password}@{pg_cluster.host}:{pg_cluster.port}/postgres"
    with pytest.raises(InvalidArgument) as err:
        open_store(url)
    assert err.value.field == "paths.store" and pg_cluster.password not in str(err.value)


def test_the_password_comes_from_the_environment(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    password = os.environ["RECSVC_POSTGRES_PASSWORD"]
    monkeypatch.delenv("RECSVC_POSTGRES_PASSWORD")
    monkeypatch.setenv("PGPASSWORD", password)  # libpq's own variable works too
    open_store(pg_url).close()
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(Unavailable):
        open_store(pg_url, PostgresConfig(connect_timeout_s=2.0))


def test_an_unreachable_server_names_host_and_setting() -> None:
    port = free_port()
    with pytest.raises(Unavailable) as err:
        open_store(f"postgresql://postgres@127.0.0.1:{port}/x", PostgresConfig(connect_timeout_s=1.0))
    assert f"127.0.0.1:{port}" in str(err.value) and "paths.store" in str(err.value)
    out = _cli("db", "status", store=f"postgresql://postgres@127.0.0.1:{port}/x")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and f"127.0.0.1:{port}" in out.stderr


def test_postgres_settings_section_and_secret_rule(tmp_path: Path) -> None:
    env = {"RECSVC_POSTGRES_POOL_MAX": "4", "RECSVC_POSTGRES_PASSWORD": "s3cret"}
    s = load_settings(env=env)
    assert s.postgres.pool_max == 4 and "s3cret" not in repr(s)
    toml = tmp_path / "c.toml"
    toml.write_text('[postgres]\npassword = "x"\n')
    with pytest.raises(InvalidArgument) as err:
        load_settings(toml, env={})
    assert err.value.field == "postgres.password"
    with pytest.raises(InvalidArgument) as err:
        load_settings(env={"RECSVC_POSTGRES_POOL_MIN": "9", "RECSVC_POSTGRES_POOL_MAX": "4"})
    assert err.value.field == "postgres.pool_min"


def test_item_stamps_follow_commit_order_across_concurrent_writers(pg_url: str) -> None:
    """Writers on several connections: a reader that remembers the largest stamp it saw never misses
    an upsert, since stamps are taken under the catalog lock and so grow in commit order."""
    stores = [PostgresStore(pg_url) for _ in range(3)]
    seen: set[str] = set()
    mark = 0.0

    def write(k: int) -> None:
        for i in range(30):
            stores[k].upsert_items(pd.DataFrame([{"item_id": f"w{k}-{i}", "title": "t"}]))

    writers = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for w in writers:
        w.start()
    while True:
        finished = not any(w.is_alive() for w in writers)
        changed = stores[2].items_changed_since(mark)
        if not changed.empty:
            seen.update(changed["item_id"])
            mark = float(changed["updated_at"].max())
        if finished:
            break
    assert len(seen) == 60 == stores[2].count("items")
    for s in stores:
        s.close()
