"""The payload of a ``feedback`` event: ``{"rating": 1-5, "reasons": ["too_many" | "not_relevant" |
"bad_time", ...]}``; the rating may be left out when reasons are given, and the event's ``item_id``
names the pushed item the feedback is about (what ``not_relevant`` and ``bad_time`` act on).

:func:`check_payload` is the strict reading at ingestion (an error names the field, such as
``payload.reasons[0]``); :func:`read_payload` is the lenient reading of stored events, which may
predate the check, so an unreadable stored payload has no effect instead of failing a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import FEEDBACK_REASONS

NEGATIVE_RATING = 2  # ratings at or below this count as negative feedback (they lower caps)


@dataclass(frozen=True)
class FeedbackPayload:
    rating: float | None
    reasons: tuple[str, ...] = ()

    @property
    def negative(self) -> bool:
        return self.rating is not None and self.rating <= NEGATIVE_RATING


def check_payload(text: str, field: str = "payload") -> FeedbackPayload:
    """The payload of a feedback event, or ``InvalidArgument`` naming the bad part of it."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"{field} is not JSON", field=field) from None
    if not isinstance(data, dict):
        raise InvalidArgument(f'{field} must be a JSON object such as {{"rating": 4}}', field=field)
    unknown = sorted(set(data) - {"rating", "reasons"})
    if unknown:
        raise InvalidArgument(
            f"{field}: unknown key {unknown[0]!r} (known: rating, reasons)", field=f"{field}.{unknown[0]}"
        )
    reasons = _reasons(data.get("reasons", []), f"{field}.reasons")
    rating = data.get("rating")
    if rating is None:
        if not reasons:
            raise InvalidArgument(f"{field} needs a rating (1-5) or at least one reason", field=f"{field}.rating")
        return FeedbackPayload(None, reasons)
    if isinstance(rating, bool) or not isinstance(rating, int | float) or rating != int(rating) or not 1 <= rating <= 5:
        raise InvalidArgument(f"{field}.rating must be a whole number 1-5, got {rating!r}", field=f"{field}.rating")
    return FeedbackPayload(float(rating), reasons)


def _reasons(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{field} must be a list of reasons", field=field)
    for i, r in enumerate(value):
        if r not in FEEDBACK_REASONS:
            raise InvalidArgument(
                f"{field}[{i}]: unknown reason {r!r} (known: {', '.join(FEEDBACK_REASONS)})", field=f"{field}[{i}]"
            )
    return tuple(dict.fromkeys(value))


def read_payload(text: object) -> FeedbackPayload | None:
    """A stored payload read leniently: None when it is missing or not a feedback payload."""
    if not text:
        return None
    try:
        return check_payload(str(text))
    except InvalidArgument:
        return _legacy_rating(text)


def _legacy_rating(text: object) -> FeedbackPayload | None:
    """Payloads stored before the check: any numeric ``rating`` still counts (as the caps always read it)."""
    try:
        rating = float(json.loads(str(text)).get("rating"))
    except (ValueError, TypeError, AttributeError):
        return None
    return FeedbackPayload(rating, ()) if rating == rating else None
