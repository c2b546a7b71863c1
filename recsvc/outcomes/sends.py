"""A booked send as the outcome tables keep it, written in the transaction that books it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recsvc.outcomes.schema import SEND_COLUMNS
from recsvc.store.cursor import qmark

_INSERT = (
    f"INSERT INTO outcome_sends ({','.join(SEND_COLUMNS)}) VALUES ({','.join('?' * len(SEND_COLUMNS))}) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)


@dataclass(frozen=True)
class SendRecord:
    """Everything metrics slice a send by. Words (channel, trigger, stage, tier, writer, send-time
    source) are those of :mod:`recsvc.vocabulary`; ``experiment`` and ``arm`` stay empty for sends no
    experiment assigned."""

    dedupe_key: str
    user_id: str
    item_id: str
    channel: str
    trigger: str
    stage: str
    tier: str
    writer: str
    variant: str
    locale: str
    send_time_source: str
    planned_at: datetime
    booked_at: datetime
    campaign_id: str = ""
    experiment: str = ""
    arm: str = ""
    model_versions: Mapping[str, str] = field(default_factory=dict)

    def values(self) -> tuple[Any, ...]:
        """The row in :data:`~recsvc.outcomes.schema.SEND_COLUMNS` order."""
        return (
            self.dedupe_key,
            self.user_id,
            self.item_id,
            self.channel,
            self.trigger,
            self.stage,
            self.tier,
            self.writer,
            self.variant,
            self.locale,
            self.send_time_source,
            self.experiment,
            self.arm,
            self.campaign_id,
            json.dumps(dict(self.model_versions), sort_keys=True),
            self.planned_at.timestamp(),
            self.booked_at.timestamp(),
        )


def write_send(cur: Any, record: SendRecord) -> None:
    """Insert the send with the caller's cursor (sqlite3 or psycopg); a dedupe key already kept is left as is."""
    qmark(cur).execute(_INSERT, record.values())


def booking_hook(record: SendRecord) -> Callable[[Any, Any], None]:
    """What the caps ledger runs in the reservation's transaction once the send is booked."""

    def hook(cur: Any, _reservation: Any) -> None:
        write_send(cur, record)

    return hook
