"""Tunables of engagement tiers, frequency caps and channel choice, in one frozen dataclass.

Settings read it from the TOML table ``[frequency]`` and ``RECSVC_FREQUENCY_*`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsvc.config_checks import FRACTION, NON_NEGATIVE, POSITIVE, FieldChecks
from recsvc.errors import InvalidArgument
from recsvc.vocabulary import CHANNELS


@dataclass(frozen=True)
class FrequencyConfig:
    """Tier thresholds, per-tier caps, feedback penalties, channel costs; ``validate()`` names bad fields."""

    # Tiers: active days (any user-initiated event) in the last 14 / 30 / 90 days, push open rate.
    high_active_days_14: int = 4
    medium_active_days_30: int = 2
    low_active_days_90: int = 1
    high_min_open_rate: float = 0.3
    high_active_days_14_with_opens: int = 2
    # Users who ignore this many pushes (30 days, no open) drop one tier.
    ignored_pushes_demote: int = 5
    ignored_open_rate: float = 0.05
    # Caps across all campaigns and channels, rolling 24 h and 7 days: HIGH, MEDIUM, LOW, DORMANT.
    daily_caps: tuple[int, int, int, int] = (3, 2, 1, 1)
    weekly_caps: tuple[int, int, int, int] = (10, 6, 3, 1)
    # DORMANT users get key moments only (cart idle, purchase follow-up, geo); scheduled campaigns wait.
    dormant_key_moments_only: bool = True
    # Each dismissal / negative feedback in the last ``penalty_days`` lowers the weekly cap by this much.
    dismissal_penalty: float = 1.0
    negative_feedback_penalty: float = 2.0
    penalty_days: float = 14.0
    # A "too_many" feedback reason scales the weekly cap by this factor (rounded down) for this long.
    too_many_days: float = 30.0
    too_many_cap_factor: float = 0.5
    # Key moments keep at least this weekly cap after penalties (0 = penalties may silence them too).
    key_moment_floor: int = 1
    sqlite_busy_timeout_ms: int = 10000
    # Channels: cost per send (same unit as ``value_per_response``), prior response rates and strength.
    channel_costs: tuple[tuple[str, float], ...] = (
        ("app_push", 0.0),
        ("in_app", 0.0),
        ("email", 0.001),
        ("sms", 0.02),
    )
    channel_prior_rates: tuple[tuple[str, float], ...] = (
        ("app_push", 0.05),
        ("in_app", 0.08),
        ("email", 0.02),
        ("sms", 0.04),
    )
    channel_prior_strength: float = 20.0
    value_per_response: float = 1.0

    def validate(self) -> FrequencyConfig:
        """Raise :class:`InvalidArgument` naming the first bad field; return self for chaining."""
        c = FieldChecks(self)
        c.each(
            NON_NEGATIVE,
            "high_active_days_14",
            "medium_active_days_30",
            "low_active_days_90",
            "high_active_days_14_with_opens",
            "ignored_pushes_demote",
            "key_moment_floor",
        )
        for f in ("daily_caps", "weekly_caps"):
            caps = getattr(self, f)
            if len(caps) != 4:
                raise InvalidArgument(f"{f} needs 4 values (HIGH, MEDIUM, LOW, DORMANT), got {len(caps)}", field=f)
            for cap in caps:
                if not isinstance(cap, int) or cap < 0:
                    raise InvalidArgument(f"{f}: caps must be whole numbers >= 0, got {cap!r}", field=f)
        c.each(FRACTION, "high_min_open_rate", "ignored_open_rate")
        c.each(NON_NEGATIVE, "dismissal_penalty", "negative_feedback_penalty", "value_per_response")
        c.each(POSITIVE, "penalty_days", "channel_prior_strength", "too_many_days")
        c.each(FRACTION, "too_many_cap_factor")
        c.require(self.sqlite_busy_timeout_ms >= 0, "sqlite_busy_timeout_ms", "must be >= 0")
        for f in ("channel_costs", "channel_prior_rates"):
            for ch, v in getattr(self, f):
                if ch not in CHANNELS:
                    raise InvalidArgument(f"{f}: unknown channel {ch!r} (known: {', '.join(CHANNELS)})", field=f)
                if not v >= 0 or (f == "channel_prior_rates" and v > 1):
                    raise InvalidArgument(f"{f}: bad value {v!r} for {ch}", field=f)
        return self

    def daily_cap(self, tier: int) -> int:
        return self.daily_caps[int(tier) - 1]

    def weekly_cap(self, tier: int) -> int:
        return self.weekly_caps[int(tier) - 1]
