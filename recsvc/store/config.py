"""Tunables of the PostgreSQL store (TOML ``[postgres]``, ``RECSVC_POSTGRES_*``).

The password is a secret: it comes from ``RECSVC_POSTGRES_PASSWORD`` or libpq's ``PGPASSWORD`` in
the environment only, never from the TOML file or the ``paths.store`` URL written there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from recsvc.config_checks import AT_LEAST_ONE, POSITIVE, FieldChecks

PASSWORD_ENV = ("RECSVC_POSTGRES_PASSWORD", "PGPASSWORD")


@dataclass(frozen=True)
class PostgresConfig:
    """Connection pool and timeouts; used when ``paths.store`` is a ``postgresql://`` URL."""

    pool_min: int = 2
    pool_max: int = 16
    connect_timeout_s: float = 5.0  # one connection attempt; also how long start waits for the server
    statement_timeout_ms: int = 10_000  # any one statement; 0 = no limit
    pool_timeout_s: float = 10.0  # how long a request waits for a free pooled connection

    def validate(self) -> None:
        c = FieldChecks(self, prefix="postgres.", field_prefix="postgres.")
        c.each(AT_LEAST_ONE, "pool_min", "pool_max")
        c.require(self.pool_min <= self.pool_max, "pool_min", "must be <= postgres.pool_max")
        c.each(POSITIVE, "connect_timeout_s", "pool_timeout_s")
        c.require(self.statement_timeout_ms >= 0, "statement_timeout_ms", "must be >= 0")


def password_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL password from the environment (RECSVC_POSTGRES_PASSWORD first), if set."""
    env = os.environ if env is None else env
    for name in PASSWORD_ENV:
        if env.get(name):
            return env[name]
    return None
