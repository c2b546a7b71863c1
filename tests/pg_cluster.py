"""A throwaway PostgreSQL 15 cluster for tests: ``initdb`` + ``pg_ctl`` on a free port, in a temp dir.

``initdb`` refuses to run as root, so as root the programs run as the ``postgres`` user (which
Debian's ``postgresql`` package creates) in a temp dir that user owns. The superuser gets a random
password and host connections need it (scram-sha-256), so the store's password-from-environment
path is what the tests use. Each test gets its own database (:meth:`PgCluster.new_database`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("RECSVC_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ClusterUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (programs missing, no postgres user, ...)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    """``cmd`` run as ``postgres`` when we are root (initdb refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


def _run(cmd: list[str], what: str) -> None:
    out = subprocess.run(_as_owner(cmd), capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise ClusterUnavailable(f"{what} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-500:]}")


@dataclass
class PgCluster:
    root: Path
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = "postgres"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        """A URL without the password (that comes from the environment, as in production)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def _pg_ctl(self, *args: str) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), *args], f"pg_ctl {args[0]}")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB"
        )
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.root / "log"), "-o", opts)

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-w", "-m", mode)

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), password=self.password, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(ClusterUnavailable, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    """initdb + start on a free port; raises :class:`ClusterUnavailable` saying why it cannot."""
    for prog in ("initdb", "pg_ctl"):
        if not (PG_BIN / prog).is_file():
            raise ClusterUnavailable(f"{PG_BIN / prog} not found (install with `make postgres`)")
    root = Path(tempfile.mkdtemp(prefix="recsvc-pg-"))
    password = secrets.token_urlsafe(16)
    (root / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        try:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(root / "pw", "postgres", "postgres")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise ClusterUnavailable(f"no usable postgres user: {exc}") from None
    cluster = PgCluster(root, free_port(), password)
    try:
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={root / 'pw'}",
            ],
            "initdb",
        )
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster
