"""One cursor shape for SQL shared by both backends: sqlite-style ``?`` parameters.

Code that writes the same statements for SQLite and PostgreSQL (the caps verdict, attribution) takes
whichever cursor the transaction it runs in has, through :func:`qmark`. The shared statements hold
no literal ``?`` or ``%``, so the parameter replacement is exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any


class QmarkCursor:
    """A psycopg cursor that takes sqlite-style ``?`` parameters."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QmarkCursor:
        self._cur.execute(sql.replace("?", "%s"), params)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def description(self) -> Any:
        return self._cur.description


def qmark(cur: Any) -> Any:
    """``cur`` if it already takes ``?`` (sqlite3, or a :class:`QmarkCursor`), else wrapped."""
    return cur if isinstance(cur, sqlite3.Cursor | sqlite3.Connection | QmarkCursor) else QmarkCursor(cur)
