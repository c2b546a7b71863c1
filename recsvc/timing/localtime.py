"""Local clocks of users and instants: which zone a user lives in, and the local hour of week and
hour of day of events, of a span of hourly slots and of a cut-off in each user's offset.

A user's local clock is the IANA zone from the users table when it names one (or a known city),
else the UTC offset the timestamp was written in (``ts_offset_min``), else UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from recsvc.errors import InvalidArgument
from recsvc.timing.clock import resolve_timezone

logger = logging.getLogger(__name__)


def as_zone(tz: str | ZoneInfo) -> ZoneInfo:
    """``tz`` itself if it is a zone, else the IANA zone it names (unknown -> InvalidArgument)."""
    return tz if isinstance(tz, ZoneInfo) else resolve_timezone(tz)


def local_clock(epochs: np.ndarray, zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of week (Monday 0) and hour of day of UTC instants (seconds since the epoch).

    Why: per-slot ``astimezone`` was most of a ``Recommend`` call's send-time cost. One offset serves
    the whole span unless a DST change falls inside it; then each instant is converted.
    """

    def offset(t: float) -> float:
        off = datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    e = np.asarray(epochs, dtype=np.float64)
    if len(e) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, last = offset(float(e[0])), offset(float(e[-1]))
    off = np.full(len(e), first) if first == last else np.array([offset(float(t)) for t in e])
    local = np.floor(e + off).astype(np.int64)
    hod = (local // 3600) % 24
    weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    return weekday * 24 + hod, hod


def local_weekday_hour(asof: float, offset_min: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local weekday (Monday 0) and hour of day of the instant ``asof`` (unix seconds) in each of
    the given UTC offsets (minutes)."""
    local = pd.to_datetime(asof + offset_min * 60.0, unit="s")
    return np.asarray(local.day_of_week, dtype=np.int64), np.asarray(local.hour, dtype=np.int64)


def user_zone_map(users: pd.DataFrame | None) -> dict[str, str]:
    """user_id -> IANA zone for users whose table row names a valid one (or a known city)."""
    if users is None or users.empty:
        return {}
    out: dict[str, str] = {}
    tzs = users["timezone"].astype("string").fillna("") if "timezone" in users.columns else None
    cities = users["city"].astype("string").fillna("") if "city" in users.columns else None
    for i, uid in enumerate(users["user_id"].astype(str)):
        tz = str(tzs.iloc[i]) if tzs is not None else ""
        city = str(cities.iloc[i]) if cities is not None else ""
        if not tz and not city:
            continue
        try:
            zone = resolve_timezone(tz or None, city or None)
        except InvalidArgument:
            logger.warning("user %s: unknown time zone %r, using the written offset", uid, tz)
            continue
        if tz or zone.key != "UTC":
            out[uid] = zone.key
    return out


def local_times(events: pd.DataFrame, zones: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (hour_of_week, hour_of_day, offset_minutes) of each event in its user's clock."""
    n = len(events)
    ts = pd.DatetimeIndex(events["ts"])
    if "ts_offset_min" in events.columns:
        offset = events["ts_offset_min"].fillna(0).to_numpy(dtype=np.int64)
    else:
        offset = np.zeros(n, dtype=np.int64)
    offset = offset.copy()
    if zones:
        uid = events["user_id"].astype(str).to_numpy()
        zone_of = pd.Series(uid).map(zones).to_numpy()
        has = pd.notna(zone_of)
        for zone in pd.unique(zone_of[has]):
            idx = np.flatnonzero(zone_of == zone)
            loc = ts[idx].tz_convert(str(zone))
            off = (loc.tz_localize(None) - ts[idx].tz_localize(None)).total_seconds() // 60
            offset[idx] = np.asarray(off, dtype=np.int64)
    local = ts.tz_localize(None) + pd.to_timedelta(offset, unit="m")
    hod = np.asarray(local.hour, dtype=np.int64)
    how = np.asarray(local.day_of_week, dtype=np.int64) * 24 + hod
    return how, hod, offset
