"""A batch process's allocator keeps large freed blocks in its heap, even when started as a Dask
worker is (``MALLOC_TRIM_THRESHOLD_`` set, which gives every block above 128 KiB its own mapping)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

# In a fresh interpreter started like a Dask worker: how many blocks are mapped on their own
# (mallinfo2's hblks) while a 1 MiB buffer is held, before and after keep_freed_memory().
PROBE = """
import ctypes, json
from recsvc.batch.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

def mapped_while_holding_one_mib():
    before = libc.mallinfo2().hblks
    block = bytearray(1 << 20)
    during = libc.mallinfo2().hblks
    del block
    return during - before

first = mapped_while_holding_one_mib()
done = keep_freed_memory()
print(json.dumps({"before": first, "set": done, "after": mapped_while_holding_one_mib()}))
"""


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _has_mallinfo2(), reason="glibc only")
def test_a_worker_started_by_dask_keeps_large_blocks_in_its_heap() -> None:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # what a Dask nanny gives its workers
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["before"] == 1  # one mapping for the 1 MiB buffer: the slow path
    assert result["set"] is True
    assert result["after"] == 0  # from the heap, reused chunk after chunk
