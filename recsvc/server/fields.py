"""Checks for single request fields; each failure is an ``InvalidArgument`` naming the field.

The request converters in :mod:`recsvc.server.convert` are built from these, so every string,
number, timestamp and JSON payload a caller sends passes the same rules (see the README's
"Limits" table).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.errors import InvalidArgument

# Timestamps: downstream code subtracts days and weeks and converts to pandas (years 1677..2262),
# so a date far from today is refused here rather than overflowing there.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_SIGNUP = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=366)

_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)  # escapes, quotes, brackets


def text(value: str, field: str, limit: int, *, required: bool = False, strip: bool = True, forbid: str = "") -> str:
    """A string of at most ``limit`` characters, without NUL or lone surrogates (stripped by default)."""
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters; the limit is {limit}", field=field)
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character", field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(f"{field} is not valid Unicode (lone surrogate)", field=field) from None
    for ch in forbid:
        if ch in value:
            raise InvalidArgument(f"{field} must not contain {ch!r}", field=field)
    out = value.strip() if strip else value
    if required and not out.strip():
        raise InvalidArgument(f"{field} is empty", field=field)
    return out


def texts(values: list[str], field: str, limit: int, max_count: int, *, forbid: str = "") -> list[str]:
    """A repeated string field: at most ``max_count`` entries, each checked by :func:`text`; blanks dropped."""
    if len(values) > max_count:
        raise InvalidArgument(f"{field} has {len(values)} entries; the limit is {max_count}", field=field)
    out = [text(v, f"{field}[{i}]", limit, forbid=forbid) for i, v in enumerate(values)]
    return [v for v in out if v]


def amount(value: float, field: str, limit: float, *, signed: bool = False) -> float:
    """A finite number in ``0..limit`` (``-limit..limit`` when ``signed``: refunds are negative)."""
    if not math.isfinite(value):
        raise InvalidArgument(f"{field} must be a finite number, got {value}", field=field)
    low = -limit if signed else 0
    if not low <= value <= limit:
        raise InvalidArgument(f"{field} must be between {low:g} and {limit:g}, got {value:g}", field=field)
    return value


def lat_lon(lat: float, lon: float, field: str) -> tuple[float, float]:
    """Finite latitude in -90..90 and longitude in -180..180."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidArgument(f"{field}: lat/lon out of range (lat -90..90, lon -180..180, finite)", field=field)
    return lat, lon


def timestamp(ts: Timestamp, field: str, *, default: datetime | None = None, earliest: datetime = EARLIEST) -> datetime:
    """A set timestamp from ``earliest`` to a year ahead of now, else ``default`` when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        if default is None:
            raise InvalidArgument(f"{field} is required", field=field)
        return default
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidArgument(f"{field}: nanos must be 0..999999999, got {ts.nanos}", field=field)
    try:
        dt = ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field}: timestamp out of range", field=field) from None
    if dt > datetime.now(UTC) + MAX_FUTURE:
        raise InvalidArgument(f"{field}: {dt.isoformat()} is more than a year in the future", field=field)
    if dt < earliest:
        raise InvalidArgument(f"{field}: {dt.isoformat()} is before {earliest.date().isoformat()}", field=field)
    return dt


def json_payload(value: str, field: str, max_bytes: int, max_depth: int) -> str:
    """JSON text of at most ``max_bytes`` UTF-8 bytes and ``max_depth`` nested arrays/objects, no NaN."""
    text(value, field, max_bytes, strip=False)  # characters <= bytes: rules out huge strings cheaply
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise InvalidArgument(f"{field} is {size} bytes; the limit is {max_bytes}", field=field)
    depth = _json_depth(value, max_depth)
    if depth > max_depth:
        raise InvalidArgument(f"{field} nests deeper than {max_depth} levels", field=field)
    try:
        json.loads(value, parse_constant=_no_constant)
    except ValueError:
        raise InvalidArgument(f"{field} is not JSON", field=field) from None
    return value


def _json_depth(value: str, max_depth: int) -> int:
    """The bracket nesting outside string literals (exact for valid JSON), found without recursion.

    Why: ``json.loads`` recurses per level, so a deep payload would raise ``RecursionError``.
    """
    opens = value.count("[") + value.count("{")
    if opens <= max_depth:
        return opens
    depth = deepest = 0
    in_string = False
    for m in _JSON_TOKENS.finditer(value):
        tok = m.group()
        if tok == '"':
            in_string = not in_string
        elif in_string or len(tok) == 2:
            continue
        elif tok in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
