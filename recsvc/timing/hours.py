"""Hours on the day's circle and the week's 168: neighbour windows, circular distances, the hit@1h
choice of an hour, and the hour-of-day profile of an hour-of-week curve.

The day is a circle (23h sits next to 0h) because the metric that judges a send time, hit@1h,
counts a prediction within one hour of the truth either way round midnight.
"""

from __future__ import annotations

import numpy as np

HOURS_PER_WEEK = 168


def circular_window(p: np.ndarray, radius: int = 1) -> np.ndarray:
    """Sum of each hour and its ``radius`` neighbours on the 24-hour (last axis) circle."""
    out = p.copy()
    for r in range(1, radius + 1):
        out = out + np.roll(p, r, axis=-1) + np.roll(p, -r, axis=-1)
    return out


def circular_distance(a: np.ndarray | int, b: np.ndarray | int, period: int = 24) -> np.ndarray:
    """Distance between hours on the circle (0..period/2)."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % period
    return np.minimum(d, period - d)


def pick_hours(dist24: np.ndarray) -> np.ndarray:
    """The hour maximising the mass within one hour of it: the Bayes choice for hit@1h. Ties go to
    the hour with more mass of its own, then to the earliest (the user-mode baseline's rule)."""
    p = np.asarray(dist24, dtype=np.float64)
    # Far below any real difference of window sums, far above their rounding errors.
    return np.asarray(np.argmax(circular_window(p, 1) + 1e-7 * p, axis=-1), dtype=np.int64)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) divided by its sum; an all-zero row stays zero."""
    return x / np.clip(x.sum(axis=-1, keepdims=True), 1e-12, None)


def day_profile(week: np.ndarray) -> np.ndarray:
    """Hour-of-day distribution (last axis 24) of hour-of-week curves or counts (last axis 168)."""
    return normalize_rows(week.reshape((*week.shape[:-1], 7, 24)).sum(axis=-2))
