"""Distinct item rows of a small array, fast: ``np.unique(values, return_inverse=True)`` by counting.

Item rows are small non-negative integers, so when the catalog is not much larger than the array, a
pass over a catalog-sized mask finds the distinct rows without sorting the array (several times
faster for the few hundred to few thousand rows one request handles). The answer is the same
(sorted distinct rows, each value's position among them); larger catalogs sort as before.
"""

from __future__ import annotations

import numpy as np

# a catalog-sized mask is worth it from this many values, up to this many catalog rows per value
_DENSE_MIN_VALUES = 16
_DENSE_ROWS_PER_VALUE = 8


def unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of non-negative item rows, the distinct ones as int64."""
    n_rows = int(values.max()) + 1 if len(values) >= _DENSE_MIN_VALUES else 0
    if n_rows == 0 or n_rows > _DENSE_ROWS_PER_VALUE * len(values) + 1024:
        uniq, inv = np.unique(values, return_inverse=True)
        return uniq.astype(np.int64), inv
    seen = np.zeros(n_rows, dtype=bool)
    seen[values] = True
    uniq = np.flatnonzero(seen)
    pos = np.empty(n_rows, dtype=np.intp)
    pos[uniq] = np.arange(len(uniq))
    return uniq.astype(np.int64), pos[values]
