"""How often and where: engagement tiers, durable frequency caps and channel choice."""

from recsvc.frequency.caps import CapLedger, Refusal, Reservation
from recsvc.frequency.channels import ChannelChoice, ChannelStats, channel_stats, choose_channel
from recsvc.frequency.config import FrequencyConfig
from recsvc.frequency.tiers import compute_tiers, user_tier
from recsvc.vocabulary import EngagementTier

__all__ = [
    "CapLedger",
    "ChannelChoice",
    "ChannelStats",
    "EngagementTier",
    "FrequencyConfig",
    "Refusal",
    "Reservation",
    "channel_stats",
    "choose_channel",
    "compute_tiers",
    "user_tier",
]
