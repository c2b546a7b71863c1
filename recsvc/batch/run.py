"""Run a batch over users in chunks: skip the chunks a resumed run already wrote, show progress."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsvc.batch.parts import ChunkedParquet
from recsvc.errors import InvalidArgument, NotFound

Rows = Callable[[Sequence[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class BatchSummary:
    users: int
    chunks: int
    resumed_chunks: int
    rows: int
    out: str


def run_chunks(
    user_ids: Sequence[str], chunk_users: int, parts: ChunkedParquet, make_rows: Rows, *, progress: bool, desc: str
) -> BatchSummary:
    from tqdm.auto import tqdm

    chunks = [user_ids[lo : lo + chunk_users] for lo in range(0, len(user_ids), chunk_users)]
    done = parts.done()
    bar = tqdm(total=len(user_ids), desc=desc, unit="user", disable=not progress, smoothing=0.1)
    for number, chunk in enumerate(chunks):
        if number not in done:
            parts.write(number, make_rows(chunk))
        bar.update(len(chunk))
    bar.close()
    rows = parts.finish()
    return BatchSummary(len(user_ids), len(chunks), len(done & set(range(len(chunks)))), rows, str(parts.out))


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
