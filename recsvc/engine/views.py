"""The engine's answers in API terms: candidates, messages, send times and suppressions as the plain
views of :mod:`recsvc.engine.types`, built from what the domain packages return."""

from __future__ import annotations

import dataclasses
from typing import Any

from recsvc.catalog_text import item_text
from recsvc.copy.types import Message
from recsvc.engine.types import ItemView, MessageView, SendTimeView, SuppressionView
from recsvc.frequency.caps import Refusal, Reservation
from recsvc.recs.serving import Candidate
from recsvc.timing.sendtime import SlotChoice

_MESSAGE_FIELDS = tuple(f.name for f in dataclasses.fields(MessageView))


def item_view(c: Candidate) -> ItemView:
    return ItemView(
        item_id=c.item_id,
        title=c.title,
        description=c.description,
        category=c.category,
        price=float(c.price or 0.0),
        currency=c.currency or "",
        image_url=c.image_url or "",
        video_url=c.video_url or "",
        audio_url=c.audio_url or "",
    )


def catalog_item_view(row: dict[str, Any], locale: str) -> ItemView:
    """A stored item row as a reader in ``locale`` sees it (title and description translated)."""
    text = item_text(row, locale)
    price = row.get("price")
    return ItemView(
        item_id=str(row["item_id"]),
        title=text.title,
        description=text.description,
        category=str(row.get("category") or ""),
        price=float(price) if isinstance(price, int | float) and price == price else 0.0,
        currency=str(row.get("currency") or ""),
        image_url=str(row.get("image_url") or ""),
        video_url=str(row.get("video_url") or ""),
        audio_url=str(row.get("audio_url") or ""),
        in_stock=bool(row.get("in_stock", True)),
        cities=tuple(c for c in str(row.get("cities") or "").split("|") if c),
        tags=tuple(t for t in str(row.get("tags") or "").split("|") if t),
    )


def message_view(m: Message) -> MessageView:
    """The message without how it was made internally (latency, fallback reason, cache hit)."""
    return MessageView(**{name: getattr(m, name) for name in _MESSAGE_FIELDS})


def send_time_view(slot: SlotChoice | None, timezone: str) -> SendTimeView | None:
    if slot is None:
        return None
    return SendTimeView(
        send_at=slot.send_at_utc,
        confidence=float(slot.confidence),
        window_start=slot.window_start,
        window_end=slot.window_end,
        local_hour=int(slot.local_hour),
        timezone=timezone,
    )


def refusal_view(r: Refusal) -> SuppressionView:
    reason = {"UNSUBSCRIBED": "opted_out", "DORMANT_KEY_MOMENTS_ONLY": "low_tier_not_key_moment"}.get(
        r.code, "frequency_cap"
    )
    return SuppressionView(reason, r.reason, r.retry_after_utc)


def booking_view(booked: Reservation | Refusal) -> SuppressionView | None:
    """None for a new reservation; otherwise why nothing new was booked."""
    if isinstance(booked, Refusal):
        return refusal_view(booked)
    if booked.duplicate:
        return SuppressionView(
            "duplicate",
            f"dedupe key {booked.dedupe_key} was first reserved at {booked.at_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"(that request's time, channel {booked.channel}); nothing new was booked",
        )
    return None
