"""Time in the recommender: float unix seconds, and the exponential decay that ages events.

Requests, event logs and artifacts carry datetimes or pandas timestamps; statistics, profiles
and features all work on seconds since the epoch, so they convert here (naive values are UTC).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

DAY = 86400.0
LN2 = float(np.log(2.0))


def to_unix(ts: datetime | pd.Timestamp) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return float(t.value) / 1e9


def unix_seconds(ts: pd.Series) -> np.ndarray:
    """Unix seconds of a timestamp column (naive values are UTC), whatever its resolution."""
    t = pd.to_datetime(ts, utc=True)
    return np.asarray((t - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), dtype=np.float64)


def local_hour(ts: datetime | pd.Timestamp) -> int:
    """Hour of day on the clock the datetime carries (UTC when naive)."""
    t = pd.Timestamp(ts)
    return int(t.hour)


def decay(age_seconds: np.ndarray, half_life_days: float) -> np.ndarray:
    """Exponential time decay: 1 now, 1/2 after one half-life; future events count as now."""
    age = np.maximum(np.asarray(age_seconds, dtype=np.float64), 0.0) / DAY
    return np.exp(-LN2 * age / half_life_days)
