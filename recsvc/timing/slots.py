"""From a user's curves to send times: the propensity of each hourly slot in the user's local clock,
and the best allowed send instant in a window, never inside quiet hours.

Everything here reads a user's 168-hour week curve and a 24-hour multiplier (the learned
hour-of-day re-weighting, ones when unused); :class:`recsvc.timing.sendtime.SendTimeModel` supplies
both.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from recsvc.timing.clock import QuietHours
from recsvc.timing.hours import day_profile
from recsvc.timing.localtime import local_clock

logger = logging.getLogger(__name__)

Curve = list[tuple[datetime, float]]


@dataclass(frozen=True)
class SlotChoice:
    """When to send: the UTC instant, its local hour, how sure we are and the curve it came from."""

    send_at_utc: datetime
    local_hour: int
    confidence: float
    window_start: datetime
    window_end: datetime
    curve: Curve = field(default_factory=list)
    deferred: bool = False
    reason: str = ""


@dataclass(frozen=True)
class HourlySlots:
    """Hourly slots from the local top of the hour at or before a start instant."""

    t0: datetime  # first slot start (UTC)
    p: np.ndarray  # propensity of each slot, sums to 1
    raw: np.ndarray  # unnormalised propensity (week curve x hour multiplier)
    hod: np.ndarray  # local hour of day of each slot

    def curve(self) -> Curve:
        """``(slot_start_utc, p)`` of each slot."""
        return list(zip(_slot_starts(self.t0, len(self.p)), self.p.tolist(), strict=True))


@lru_cache(maxsize=1024)
def _slot_starts(t0: datetime, hours: int) -> tuple[datetime, ...]:
    return tuple(t0 + timedelta(hours=h) for h in range(hours))


@lru_cache(maxsize=1024)
def _slot_clock(start_utc: datetime, hours: int, zone: ZoneInfo) -> tuple[datetime, np.ndarray, np.ndarray]:
    """The first slot start (UTC), and the local hour of week and of day of each slot. Kept for
    the last instants and zones asked: a batch asks the same ones for every user, a server for
    every request of the same minute."""
    local0 = start_utc.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    t0 = local0.astimezone(UTC)
    how, hod = local_clock(t0.timestamp() + 3600.0 * np.arange(hours), zone)
    how.flags.writeable = False
    hod.flags.writeable = False
    return t0, how, hod


def hourly_slots(week: np.ndarray, adj: np.ndarray, start_utc: datetime, hours: int, zone: ZoneInfo) -> HourlySlots:
    """Propensity of ``hours`` hourly slots in ``zone`` from ``start_utc`` on; uniform if all are 0."""
    t0, how, hod = _slot_clock(start_utc, hours, zone)
    raw = week[how] * adj[hod]
    tot = raw.sum()
    p = raw / tot if tot > 0 else np.full(hours, 1.0 / hours)
    return HourlySlots(t0, p, raw, hod)


def send_window(
    now_utc: datetime, window_start_utc: datetime | None, limits: Iterable[datetime | None], horizon_hours: int
) -> tuple[datetime, datetime]:
    """``[max(now, window_start), min(start + horizon, *limits)]`` in UTC, never ending before it starts."""
    now = now_utc.astimezone(UTC)
    start = max(now, window_start_utc.astimezone(UTC)) if window_start_utc is not None else now
    end = start + timedelta(hours=horizon_hours)
    for lim in limits:
        if lim is not None:
            end = min(end, lim.astimezone(UTC))
    return start, max(end, start)


def _best_allowed(
    week: np.ndarray,
    adj: np.ndarray,
    slots: HourlySlots,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    qh: QuietHours,
) -> datetime | None:
    """The candidate with the highest propensity outside quiet hours, None if every one is quiet.

    Candidates: ``start`` itself, then every slot start in ``(start, end]``.
    """
    best: datetime | None = None
    best_p = -1.0
    loc_start = start.astimezone(zone)
    if not qh.contains(loc_start):
        best, best_p = start, float(week[loc_start.weekday() * 24 + loc_start.hour] * adj[loc_start.hour])
    secs = slots.t0.timestamp() + 3600.0 * np.arange(len(slots.raw))
    inside = (secs > start.timestamp()) & (secs <= end.timestamp())
    allowed = inside & ~np.asarray(qh.quiet_mask(), dtype=bool)[slots.hod]
    if allowed.any():
        scores = np.where(allowed, slots.raw, -1.0)
        j = int(np.argmax(scores))  # the first of equal maxima
        if scores[j] > best_p + 1e-15:
            best = slots.t0 + timedelta(hours=j)
    return best


def _confidence(week: np.ndarray, adj: np.ndarray, local_hour: int, history_weight: float) -> float:
    """Share of the user's day within one hour of the chosen hour, discounted for users whose
    curve is mostly borrowed from their segment."""
    prof = day_profile(week[None, :])[0] * adj
    h = local_hour
    mass = float((prof[(h - 1) % 24] + prof[h] + prof[(h + 1) % 24]) / prof.sum())
    return mass * (0.5 + 0.5 * history_weight)


def choose_slot(
    user_id: str,
    week: np.ndarray,
    adj: np.ndarray,
    history_weight: float,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    quiet: QuietHours,
    on_all_quiet: str,
    shown_adj: np.ndarray | None = None,
) -> SlotChoice | None:
    """The best allowed send instant in ``[start, end]`` (UTC) for a user's curves.

    ``adj`` chooses the instant; ``shown_adj`` (default ``adj``) gives the probabilities shown with
    it, the send curve and the confidence, when they are calibrated apart from the choice.

    If the whole window is quiet: ``on_all_quiet="defer"`` returns the first allowed minute after it
    with ``deferred=True``; ``"suppress"`` returns None.
    """
    n_hours = max(1, math.ceil((end - start).total_seconds() / 3600.0) + 1)
    slots = hourly_slots(week, adj, start, n_hours, zone)
    best = _best_allowed(week, adj, slots, start, end, zone, quiet)
    deferred = False
    reason = "peak propensity in the window outside quiet hours"
    if best is None:
        if on_all_quiet == "suppress":
            logger.debug("user %s: whole window %s..%s is quiet; suppressed", user_id, start, end)
            return None
        best = quiet.next_allowed(end.astimezone(zone)).astimezone(UTC)
        deferred = True
        reason = f"whole window is inside quiet hours {quiet}; deferred to the first allowed time after it"
    loc = best.astimezone(zone)
    if shown_adj is not None:
        adj, slots = shown_adj, hourly_slots(week, shown_adj, start, n_hours, zone)
    confidence = _confidence(week, adj, loc.hour, history_weight)
    return SlotChoice(best, loc.hour, confidence, start, end, slots.curve(), deferred, reason)
