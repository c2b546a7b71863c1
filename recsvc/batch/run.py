"""Run a batch over users in chunks: skip the chunks a resumed run already wrote, show progress."""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsvc.batch.parts import ChunkedParquet
from recsvc.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from recsvc.batch.work import BatchJob

Rows = Callable[[Sequence[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class BatchSummary:
    users: int
    chunks: int
    resumed_chunks: int
    rows: int
    out: str
    workers: int = 1
    worker_peak_rss_mb: tuple[float, ...] = ()  # with Dask: each worker process's peak memory
    worker_busy: float = 0.0  # with Dask: the share of worker time spent computing rows (the rest is overhead)
    compute_s: float = 0.0  # with Dask: the workers' time spent computing rows, summed over workers


def run_chunks(
    user_ids: Sequence[str], chunk_users: int, parts: ChunkedParquet, make_rows: Rows, *, progress: bool, desc: str
) -> BatchSummary:
    from tqdm.auto import tqdm

    chunks = split(user_ids, chunk_users)
    done = parts.done()
    bar = tqdm(total=len(user_ids), desc=desc, unit="user", disable=not progress, smoothing=0.1)
    for number, chunk in enumerate(chunks):
        if number not in done:
            parts.write(number, make_rows(chunk))
        bar.update(len(chunk))
    bar.close()
    rows = parts.finish()
    return BatchSummary(len(user_ids), len(chunks), len(done & set(range(len(chunks)))), rows, str(parts.out))


def run_chunks_dask(
    client: Any,
    job: BatchJob,
    user_ids: Sequence[str],
    chunk_users: int,
    parts: ChunkedParquet,
    *,
    progress: bool,
    desc: str,
) -> BatchSummary:
    """:func:`run_chunks` with the chunks computed on the Dask cluster of ``client``. Workers compute
    rows; this process writes each part as it arrives (the same file the single-process run writes),
    so the output folder need not be shared with the workers."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    from recsvc.batch.cluster import worker_peak_rss_mb
    from recsvc.batch.work import chunk_task

    chunks = split(user_ids, chunk_users)
    done = parts.done() & set(range(len(chunks)))
    todo = [n for n in range(len(chunks)) if n not in done]
    skipped = sum(len(chunks[n]) for n in done)
    workers = len(client.scheduler_info()["workers"])
    shared = client.scatter(job, broadcast=True)  # sent once per worker, not once per chunk
    t0 = time.perf_counter()
    futures = [client.submit(chunk_task, shared, n, chunks[n], pure=False) for n in todo]
    busy = 0.0
    with tqdm(total=len(user_ids), initial=skipped, desc=desc, unit="user", disable=not progress, smoothing=0.1) as bar:
        for future in as_completed(futures, loop=client.loop):
            result = future.result()
            parts.write(result.number, result.rows)
            busy += result.seconds
            bar.update(result.users)
            future.release()
    wall = time.perf_counter() - t0
    peaks = tuple(worker_peak_rss_mb(client))
    rows = parts.finish()
    share = busy / (wall * workers) if todo and wall > 0 and workers else 0.0
    return BatchSummary(
        len(user_ids), len(chunks), len(done), rows, str(parts.out), workers, peaks, round(share, 3), round(busy, 2)
    )


def split(user_ids: Sequence[str], chunk_users: int) -> list[Sequence[str]]:
    """The chunks of a run, numbered by position: the same split in every mode, so parts line up."""
    return [user_ids[lo : lo + chunk_users] for lo in range(0, len(user_ids), chunk_users)]


def read_user_ids(path: str) -> list[str]:
    """User ids from a file: one per line, or a CSV with a ``user_id`` column. Order kept, repeats dropped."""
    p = Path(path)
    if not p.exists():
        raise NotFound(f"no such file: {path}", field="users")
    with p.open(encoding="utf-8", newline="") as f:
        first = f.readline()
        f.seek(0)
        if "," in first or first.strip() == "user_id":
            reader = csv.DictReader(f)
            if "user_id" not in (reader.fieldnames or []):
                raise InvalidArgument(f"{path}: a CSV needs a user_id column", field="users")
            ids = [str(r["user_id"]).strip() for r in reader]
        else:
            ids = [line.strip() for line in f]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise InvalidArgument(f"{path}: no user ids", field="users")
    return ids


def ids_digest(user_ids: Sequence[str]) -> str:
    """A short checksum of the user list, so a resumed run is known to cover the same users."""
    h = hashlib.sha256()
    for u in user_ids:
        h.update(u.encode("utf-8") + b"\n")
    return h.hexdigest()[:16]
