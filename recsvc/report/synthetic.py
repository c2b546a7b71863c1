"""Seeded synthetic attributed sends and feedback, for ``recsvc report --demo`` and the benchmark.

One experiment, ``demo_copy``, with a control arm and two variants; the variants' click rates are
planted at +10% and -5% relative to control, so the report has a lift to show and one to reject.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from recsvc.vocabulary import CHANNELS, FEEDBACK_REASONS, STAGES

DEMO_EXPERIMENT = "demo_copy"
DEMO_ARMS: tuple[str, ...] = ("control", "variant_b", "variant_c")
_ARM_CLICK_FACTOR = np.array([1.0, 1.10, 0.95])
_STAGE_OPEN = np.array([0.06, 0.09, 0.12, 0.15, 0.05])  # per stage, in the order of STAGES
_CHANNEL_FACTOR = np.array([1.0, 0.6, 0.8, 1.3])  # per channel, in the order of CHANNELS


def synthetic_sends(n: int, seed: int = 7, days: int = 14, end: datetime | None = None) -> pd.DataFrame:
    """``n`` attributed sends over ``days`` days up to ``end`` (default: today, UTC), a third per arm."""
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = np.datetime64((end - timedelta(days=days)).replace(tzinfo=None), "s")
    ts = start + rng.integers(0, days * 86400, n).astype("timedelta64[s]")
    stage = rng.choice(len(STAGES), n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    channel = rng.choice(len(CHANNELS), n, p=[0.6, 0.1, 0.2, 0.1])
    arm = rng.integers(0, len(DEMO_ARMS), n)
    delivered = rng.random(n) < 0.95
    p_open = _STAGE_OPEN[stage] * _CHANNEL_FACTOR[channel] * 1.5
    opened = delivered & (rng.random(n) < p_open)
    clicked = opened & (rng.random(n) < 0.35 * _ARM_CLICK_FACTOR[arm])
    converted = clicked & (rng.random(n) < 0.2)
    revenue = np.where(converted, rng.gamma(2.0, 20.0, n), 0.0)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, utc=True),
            "stage": pd.Categorical.from_codes(stage, STAGES),
            "channel": pd.Categorical.from_codes(channel, CHANNELS),
            "arm": pd.Categorical.from_codes(arm, DEMO_ARMS),
            "experiment": DEMO_EXPERIMENT,
            "delivered": delivered,
            "opened": opened,
            "clicked": clicked,
            "converted": converted,
            "revenue": revenue.round(2),
            "unsubscribed": delivered & (rng.random(n) < 0.002),
        }
    )


def synthetic_feedback(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` survey answers: a rating 1-5 and, for low ratings mostly, a reason."""
    rng = np.random.default_rng(seed + 1)
    rating = rng.choice(5, n, p=[0.08, 0.12, 0.25, 0.35, 0.2]) + 1
    reason = np.array(FEEDBACK_REASONS, dtype=object)[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    keep = (rating <= 3) | (rng.random(n) < 0.05)
    return pd.DataFrame({"rating": rating, "reason": pd.Series(reason).where(keep, None)})
