"""How every part of recsvc opens the SQLite file, so that all its connections behave alike.

Autocommit (``isolation_level=None``: callers say ``BEGIN IMMEDIATE`` themselves), usable from any
thread (callers serialize their own use), waiting for a lock up to ``timeout_s`` both in Python and
in SQLite's busy handler, the file in WAL mode so that readers never block the writer, and
``synchronous=FULL`` so that an acknowledged write survives a power cut (WAL with NORMAL may lose
the last commits then). Data that can be rebuilt, such as a cache, may pass ``durable=False``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect_sqlite(path: str | Path, *, timeout_s: float = 30.0, durable: bool = True) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` with recsvc's settings (see the module)."""
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return conn
