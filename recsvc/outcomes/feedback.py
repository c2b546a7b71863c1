"""The payload of a ``feedback`` event: an optional survey rating (1-5) and optional reasons.

``{"rating": 4}``, ``{"rating": 1, "reasons": ["too_many"]}`` and ``{}`` are valid; anything else
(not an object, a rating outside 1-5 or not a number, reasons that are not a list of known words) is
refused with ``InvalidArgument`` naming ``payload``, so ReportEvents rejects that row alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import FEEDBACK_REASONS

FIELD = "payload"
RATING_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class Feedback:
    rating: float | None
    reasons: tuple[str, ...]


def parse_feedback(payload: str | None) -> Feedback:
    """The rating and reasons of a feedback payload (JSON text; empty = neither)."""
    if not payload:
        return Feedback(None, ())
    try:
        obj: Any = json.loads(payload)
    except ValueError:
        raise InvalidArgument("payload: a feedback payload must be JSON", field=FIELD) from None
    if not isinstance(obj, dict):
        raise InvalidArgument(
            'payload: a feedback payload must be an object such as {"rating": 4, "reasons": ["too_many"]}',
            field=FIELD,
        )
    return Feedback(_rating(obj.get("rating")), _reasons(obj.get("reasons")))


def _rating(value: Any) -> float | None:
    if value is None:
        return None
    lo, hi = RATING_RANGE
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidArgument(f"payload: rating must be a number from {lo:g} to {hi:g}, got {value!r}", field=FIELD)
    return float(value)


def _reasons(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument("payload: reasons must be a list of words", field=FIELD)
    unknown = [v for v in value if v not in FEEDBACK_REASONS]
    if unknown:
        raise InvalidArgument(
            f"payload: unknown feedback reason {unknown[0]!r} (known: {', '.join(FEEDBACK_REASONS)})", field=FIELD
        )
    return tuple(dict.fromkeys(value))


def rating_of(payload: str | None) -> float | None:
    """The rating of a stored feedback payload, or None (no rating, or a payload stored before checks)."""
    try:
        return parse_feedback(payload).rating
    except InvalidArgument:
        return None
