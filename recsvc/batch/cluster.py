"""Where a batch runs: this process, a ``dask.distributed`` LocalCluster, or an existing Dask scheduler.

``--dask local:N`` starts N worker processes with one thread each (the models' native code is
single-threaded per call, and processes avoid the GIL); ``--dask tcp://HOST:PORT`` connects to a
scheduler someone started (``dask scheduler`` and ``dask worker`` on each machine). Workers of a
remote cluster need the same recsvc code, the models folder and the store the settings name.
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from recsvc.errors import Unavailable

CONNECT_TIMEOUT_S = 5.0
_LOCAL = re.compile(r"^local:(\d+)$")
_TCP = re.compile(r"^tcp://([A-Za-z0-9.\-\[\]:]+):(\d{1,5})$")


@dataclass(frozen=True)
class DaskSpec:
    """``workers`` local processes, or the scheduler at ``address``."""

    workers: int = 0
    address: str = ""

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


def parse_dask(value: str) -> DaskSpec:
    """The ``--dask`` value (an ``argparse`` type: a bad one is a one-line usage error)."""
    text = value.strip()
    local = _LOCAL.match(text)
    if local:
        n = int(local.group(1))
        if n < 1:
            raise argparse.ArgumentTypeError(f"local:N needs N >= 1 worker processes, got {text!r}")
        return DaskSpec(workers=n)
    tcp = _TCP.match(text)
    if tcp and 0 < int(tcp.group(2)) < 65536:
        return DaskSpec(address=text)
    raise argparse.ArgumentTypeError(f"want local:N or tcp://HOST:PORT, got {value!r}")


@contextmanager
def dask_client(spec: DaskSpec) -> Iterator[Any]:
    """A connected ``distributed.Client``; the LocalCluster it started (if any) is closed on exit.
    An unreachable scheduler raises :class:`Unavailable` naming it."""
    import dask
    from distributed import Client, LocalCluster

    _quiet_dask_logs()
    if spec.address:
        try:
            client = Client(spec.address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            why = type(exc).__name__
            raise Unavailable(
                f"cannot reach the Dask scheduler at {spec.address} within {CONNECT_TIMEOUT_S:g}s ({why})", field="dask"
            ) from None
        with client:
            yield client
        return
    # No memory limit: a nanny that restarts a worker mid-chunk costs the chunk, and the machine is shared.
    # No dashboard: it needs bokeh and a port nobody asked for; nor the workers' sampling profiler,
    # which only the dashboard shows and which takes the interpreter from the chunk 100 times a second.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def worker_peak_rss_mb(client: Any) -> list[float]:
    """Each worker process's peak resident memory so far, in MB (sorted, largest last)."""
    return sorted(client.run(_peak_rss_mb).values())


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _quiet_dask_logs() -> None:
    for name in ("distributed", "distributed.client", "distributed.scheduler", "distributed.worker", "bokeh"):
        logging.getLogger(name).setLevel(logging.WARNING)
