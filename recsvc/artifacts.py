"""Integrity of a model version folder, checked before any native library reads a byte of it.

LightGBM aborts the whole process on some damaged model texts, and FAISS and numpy trust the sizes
their headers declare, so a truncated or garbled file could kill the server instead of failing one
load. Training therefore writes a ``files`` map ``{relative name: {sha256, size}}`` into
``metadata.json`` (written last, atomically: its presence marks a complete version), and
:func:`verify` checks sizes, checksums and cheap format headers in Python before a load. A version
whose metadata has no ``files`` map (an older trainer's) still loads, but only after the same header
checks and a trial load of its native files in a child process, whose crash cannot take the server
with it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recsvc.errors import FailedPrecondition

METADATA = "metadata.json"
FILES_KEY = "files"
_CHUNK = 1 << 20
_TAIL = 4096
_PROBE_TIMEOUT_S = 300.0
# Suffixes of the files that native code (LightGBM, FAISS, Arrow) parses: probed in a child process
# when a version has no checksums. Every ``.txt`` in a version folder is a LightGBM model text.
_NATIVE_SUFFIXES = (".txt", ".faiss", ".parquet")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _version_files(version_dir: Path) -> list[Path]:
    """Every regular file of a version except its metadata (and a metadata being written), in order."""
    skip = (METADATA, f".{METADATA}.tmp")
    return sorted(
        p for p in version_dir.rglob("*") if p.is_file() and p.relative_to(version_dir).as_posix() not in skip
    )


def file_manifest(version_dir: Path) -> dict[str, dict[str, Any]]:
    """``{relative name: {sha256, size}}`` for every file of the version except ``metadata.json``."""
    d = Path(version_dir)
    return {
        p.relative_to(d).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size} for p in _version_files(d)
    }


def write_metadata(version_dir: Path, meta: dict[str, Any], **dumps: Any) -> Path:
    """Write ``metadata.json`` with the checksums of every other file; call it after the last file.

    Written to a temporary name and renamed, so a reader never sees half a metadata file.
    """
    d = Path(version_dir)
    out = dict(meta)
    out[FILES_KEY] = file_manifest(d)
    tmp = d / f".{METADATA}.tmp"
    tmp.write_text(json.dumps(out, **dumps), encoding="utf-8")
    os.replace(tmp, d / METADATA)
    return d / METADATA


def read_metadata(version_dir: Path, what: str = "model") -> dict[str, Any]:
    """The version's ``metadata.json`` as a dict; ``FailedPrecondition`` naming the file otherwise."""
    path = Path(version_dir) / METADATA
    if not path.is_file():
        raise FailedPrecondition(f"{path}: missing {what} metadata")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise FailedPrecondition(f"{path}: metadata is not a JSON object")
    return meta


def verify(version_dir: Path, meta: dict[str, Any] | None = None) -> bool:
    """Refuse a damaged version (``FailedPrecondition`` naming the file and the fault).

    ``meta`` is the version's metadata when the caller has read it already. Returns True when every
    file was checked against its checksum, False for a version without a ``files`` map (header
    checks and a child-process trial load only).
    """
    d = Path(version_dir)
    meta = read_metadata(d) if meta is None else meta
    listed = meta.get(FILES_KEY)
    if listed is None:
        files = _version_files(d)
        for p in files:
            check_format(p)
        probe_native([p for p in files if p.suffix in _NATIVE_SUFFIXES])
        return False
    entries = _manifest_entries(d, listed)
    for p, size, _ in entries:
        if not p.is_file():
            raise FailedPrecondition(f"{p}: missing model file (listed in {METADATA})")
        actual = p.stat().st_size
        if actual != size:
            raise FailedPrecondition(f"{p}: {actual} bytes, {METADATA} says {size} (truncated or replaced)")
        check_format(p)
    for p, _, digest in entries:
        if sha256_file(p) != digest:
            raise FailedPrecondition(f"{p}: sha256 differs from {METADATA} (corrupted)")
    return True


def _manifest_entries(d: Path, listed: object) -> list[tuple[Path, int, str]]:
    where = d / METADATA
    if not isinstance(listed, dict):
        raise FailedPrecondition(f"{where}: '{FILES_KEY}' is not a map of file checksums")
    out = []
    for name, entry in listed.items():
        rel = Path(str(name))
        if rel.is_absolute() or ".." in rel.parts:
            raise FailedPrecondition(f"{where}: file name {name!r} points outside the version folder")
        try:
            size, digest = int(entry["size"]), str(entry["sha256"])
        except (KeyError, TypeError, ValueError):
            raise FailedPrecondition(f"{where}: bad checksum entry for {name!r}") from None
        out.append((d / rel, size, digest))
    return out


def check_format(path: Path) -> None:
    """Cheap structural checks by file type (headers, trailers, declared sizes)."""
    suffix = path.suffix
    if suffix == ".npy":
        check_npy(path)
    elif suffix == ".txt":
        check_lightgbm_text(path)
    elif suffix == ".faiss":
        check_faiss(path)
    elif suffix == ".parquet":
        check_parquet(path)


def check_npy(path: Path) -> None:
    """The header parses, holds no Python objects, and its shape accounts for the file size exactly."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        raise FailedPrecondition(f"{path}: not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise FailedPrecondition(f"{path}: .npy holds Python objects (refused: no pickle)")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise FailedPrecondition(
            f"{path}: .npy declares shape {tuple(shape)} {dtype} ({expected} bytes), the file has {size}"
        )


def _head_tail(path: Path, n: int = _TAIL) -> tuple[bytes, bytes]:
    with open(path, "rb") as f:
        head = f.read(n)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - n))
        return head, f.read(n)


def check_lightgbm_text(path: Path) -> None:
    """A LightGBM model text starts with ``tree`` and ends with its parameters trailer."""
    head, tail = _head_tail(path)
    if not head.startswith(b"tree\n"):
        raise FailedPrecondition(f"{path}: not a LightGBM model text (does not start with 'tree')")
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    last = lines[-1].strip()
    if not tail.endswith(b"\n") or not (last == b"end of parameters" or last.startswith(b"pandas_categorical:")):
        raise FailedPrecondition(
            f"{path}: LightGBM model text is incomplete (no 'end of parameters'/'pandas_categorical' trailer)"
        )


def check_faiss(path: Path) -> None:
    """A FAISS index is non-empty and starts with its four-letter index type code."""
    head, _ = _head_tail(path, 8)
    if len(head) < 8 or not head[:4].isalnum():
        raise FailedPrecondition(f"{path}: not a FAISS index (empty or no index type code)")


def check_parquet(path: Path) -> None:
    """A Parquet file starts and ends with ``PAR1`` (the footer is written last)."""
    head, tail = _head_tail(path, 4)
    if head != b"PAR1" or tail != b"PAR1" or path.stat().st_size < 12:
        raise FailedPrecondition(f"{path}: not a complete Parquet file (missing 'PAR1' header or footer)")


_PROBE = """
import sys
for p in sys.argv[1:]:
    print("@probe", p, flush=True)
    if p.endswith(".faiss"):
        import faiss
        faiss.read_index(p)
    elif p.endswith(".parquet"):
        import pyarrow.parquet as pq
        pq.read_table(p)
    else:
        import lightgbm
        lightgbm.Booster(model_file=p)
    print("@ok", flush=True)
"""


def _printable(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", errors="replace")
    return ["".join(c for c in line if c.isprintable()) for line in text.splitlines()]


def probe_native(paths: list[Path]) -> None:
    """Load each file with its native library in a child process; a crash there refuses the file."""
    if not paths:
        return
    try:
        res = subprocess.run(
            [sys.executable, "-c", _PROBE, *map(str, paths)],
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise FailedPrecondition(f"{paths[0].parent}: trial load took over {_PROBE_TIMEOUT_S:.0f}s") from None
    if res.returncode == 0:
        return
    # The libraries print to stdout too: only our own markers say which file was being read.
    marks = [line for line in _printable(res.stdout) if line.startswith(("@probe ", "@ok"))]
    culprit = marks[-1].removeprefix("@probe ") if marks and marks[-1] != "@ok" else str(paths[0].parent)
    how = f"signal {-res.returncode}" if res.returncode < 0 else f"exit {res.returncode}"
    err = (_printable(res.stderr) or ["no message"])[-1]
    raise FailedPrecondition(f"{culprit}: trial load failed in a child process ({how}: {err[:300]})")


def version_stamp() -> str:
    """A version name: the UTC time to the second (e.g. ``20261124T011500Z``), so versions sort by time."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def free_version_path(root: Path) -> Path:
    """``root/<stamp>``, or ``<stamp>-1``, ``-2``... when that name (or its ``.tmp`` staging folder) exists.
    Not created: for writers that stage a version in a temporary folder and rename it in."""
    stamp = version_stamp()
    path, n = Path(root) / stamp, 0
    while path.exists() or path.with_name(path.name + ".tmp").exists():
        n += 1
        path = Path(root) / f"{stamp}-{n}"
    return path


def new_version_dir(root: str | Path) -> Path:
    """Create and return a fresh version folder under ``root``; versions never overwrite each other
    (``mkdir`` fails on a name another writer took in the same second, and the next suffix is tried)."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    stamp, n = version_stamp(), 0
    while True:
        target = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            target.mkdir()
            return target
        except FileExistsError:
            n += 1


def library_versions(*names: str) -> dict[str, str]:
    """``{name: version}`` of the named libraries, for the ``library_versions`` entry of metadata.json."""
    return {name: str(importlib.import_module(name).__version__) for name in names}


def content_key(version_dir: Path) -> str:
    """Changes whenever the version's content may have: its metadata bytes plus every file's name,
    size and modification time (cheap: no file is read but the metadata)."""
    d = Path(version_dir)
    h = hashlib.sha256()
    try:
        h.update((d / METADATA).read_bytes())
        for p in _version_files(d):
            st = p.stat()
            h.update(f"\0{p.relative_to(d).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError as exc:
        h.update(f"\0unreadable: {exc}".encode())
    return h.hexdigest()


__all__ = [
    "FILES_KEY",
    "METADATA",
    "check_format",
    "content_key",
    "file_manifest",
    "library_versions",
    "read_metadata",
    "sha256_file",
    "verify",
    "write_metadata",
]
