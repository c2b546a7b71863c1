"""How often and where: engagement tiers, durable frequency caps and channel choice."""

from __future__ import annotations

from recsvc.frequency.caps import CapLedger, Refusal, Reservation
from recsvc.frequency.channels import ChannelChoice, ChannelStats, channel_stats, choose_channel
from recsvc.frequency.config import FrequencyConfig
from recsvc.frequency.tiers import compute_tiers, user_tier
from recsvc.store import EventStore
from recsvc.vocabulary import EngagementTier


def open_ledger(store: EventStore, config: FrequencyConfig | None = None) -> CapLedger:
    """The caps ledger beside ``store``: in the same SQLite file, or in the same PostgreSQL database
    through the store's pool (so event writes can derive opt-outs in their own transaction)."""
    from recsvc.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return CapLedger(store.path, config)
    from recsvc.frequency.caps_pg import PgCapLedger
    from recsvc.store.postgres import PostgresStore

    if not isinstance(store, PostgresStore):
        raise TypeError(f"no caps ledger for {type(store).__name__}")
    return PgCapLedger(store, config)


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
    "open_ledger",
    "user_tier",
]
