"""Rolling-window arithmetic for frequency caps: pure functions over send timestamps (seconds).

A cap ``C`` over a window ``W`` holds when every half-open window ``(t - W, t]`` contains at most
``C`` sends. Requests do not arrive in the order of their ``now``: a send booked for 12:00 may be
followed by a request for 11:59. So a new send at ``x`` is checked against every window that would
contain it, i.e. ``t`` in ``[x, x + W)``, which involves booked sends on both sides of ``x``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

DAY = 86400.0
WEEK = 7 * DAY


def max_window_count(sends: Sequence[float], x: float, window: float) -> int:
    """The most sends (``x`` included) in any window ``(t - window, t]`` that contains ``x``.

    ``sends`` must be sorted. The count only rises when ``t`` reaches a send, so the windows ending
    at ``x`` and at each send in ``[x, x + window)`` are the only ones to look at.
    """
    ends = [x, *sends[bisect_left(sends, x) : bisect_left(sends, x + window)]]
    return 1 + max(bisect_right(sends, t) - bisect_right(sends, t - window) for t in ends)


def fits(sends: Sequence[float], x: float, window: float, cap: int) -> bool:
    """Whether one more send at ``x`` keeps every window of length ``window`` within ``cap``."""
    return cap > 0 and max_window_count(sends, x, window) <= cap


def earliest_fit(sends: Sequence[float], x: float, limits: Iterable[tuple[float, int]]) -> float | None:
    """The earliest time at or after ``x`` where one more send fits every ``(window, cap)``; None if never.

    Moving later only helps when a booked send leaves a window, i.e. at ``s + window``; the last such
    moment clears every window, so the answer is one of these candidates.
    """
    lims = list(limits)
    if any(cap <= 0 for _, cap in lims):
        return None
    candidates = sorted({x, *(s + w for s in sends for w, _ in lims if s + w > x)})
    for y in candidates:
        if all(fits(sends, y, w, cap) for w, cap in lims):
            return y
    return None  # unreachable: after the last candidate no booked send is in any window
