from __future__ import annotations

import threading
from pathlib import Path

from recsvc.store.sqlite_connect import connect_sqlite


def test_connections_are_wal_durable_autocommit_and_shareable(tmp_path: Path) -> None:
    conn = connect_sqlite(tmp_path / "a.db", timeout_s=2.5)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    assert conn.isolation_level is None
    conn.execute("CREATE TABLE t (x INTEGER)")
    # usable from another thread (callers serialize their own use)
    worker = threading.Thread(target=lambda: conn.execute("INSERT INTO t VALUES (1)"))
    worker.start()
    worker.join()
    # autocommit: another connection sees the row at once
    assert connect_sqlite(tmp_path / "a.db").execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1


def test_a_cache_may_trade_durability_for_speed(tmp_path: Path) -> None:
    assert connect_sqlite(tmp_path / "c.db", durable=False).execute("PRAGMA synchronous").fetchone()[0] == 1
