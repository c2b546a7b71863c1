"""The C allocator's settings for a batch process: freed memory kept for reuse, not returned at once.

A Dask nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its default
``distributed.nanny.pre-spawn-environ``), so that idle workers give memory back to the system.
Setting that variable also turns off glibc's sliding mmap threshold: every allocation above 128 KiB
is then its own ``mmap`` and ``munmap``, and the heap's top is returned to the system whenever 64 KiB
are free there. A campaign chunk allocates and frees such arrays thousands of times, each paid again
in page faults: a worker computed its rows about 25% slower than the same code in a plain process.

A batch process therefore sets both thresholds itself, to the values glibc's sliding threshold
reaches on its own (an mmap threshold of 32 MiB and a trim threshold of twice that). Its memory
stays bounded by its caches (the peak over a chunk is the same), and the rows do not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES  # what glibc sets when it raises the mmap threshold


def keep_freed_memory() -> bool:
    """Set this process's allocator to keep freed memory for reuse; False where it is not glibc's."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    if not done:
        logger.debug("the C library refused the allocator's thresholds; its own stay")
    return done
