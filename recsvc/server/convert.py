"""Protobuf requests -> domain values, with request validation that names the offending field.

The servicer passes each request through here, calls the engine and turns the result into a
message with :mod:`recsvc.server.responses`, so domain code never imports ``recsvc_pb2``. Besides
these three modules, only gRPC clients build messages: :mod:`recsvc.client`, :mod:`recsvc.mcp_server`
and the server's calls to itself in :mod:`recsvc.server.warmup`.

Anything a caller can get wrong is checked here (field rules in :mod:`recsvc.server.fields`, limits
in ``settings.limits``) and raised as ``InvalidArgument`` with the field path, so the servicer stays
thin. A request converter returns a valid domain value or raises ``InvalidArgument``; nothing else
escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.catalog_text import LOCALIZED_FIELDS, column_name, is_locale_tag, localized_column
from recsvc.copy.conversation import supported_locale
from recsvc.data.io import ITEM_COLUMNS
from recsvc.engine.types import RecommendQuery
from recsvc.errors import InvalidArgument
from recsvc.feedback.payload import check_payload
from recsvc.server import fields
from recsvc.settings import Settings
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.vocabulary import (
    CHANNELS,
    EVENT_TYPES,
    LOCALES,
    TRIGGERS,
    word,
)

# Attribute names the store keeps as columns: an attribute of that name would overwrite the column.
_RESERVED_ATTRIBUTES = frozenset((*ITEM_COLUMNS, "attributes", "updated_at"))
_ROLES = ("user", "assistant", "system")
# cities and tags are stored joined by "|", so a "|" inside one would split it in two.
_LIST_SEP = "|"

EventRow = tuple[dict[str, Any] | None, str, str]


@dataclass(frozen=True)
class MessageArgs:
    """A checked GenerateMessage request."""

    user_id: str
    item_id: str
    channel: str
    trigger: str
    locale: str
    offer: str


@dataclass(frozen=True)
class AssistantArgs:
    """A checked AssistantReply request."""

    user_id: str
    turns: tuple[tuple[str, str], ...]
    max_items: int
    locale: str


def _enum_word(words: tuple[str, ...], value: int, field: str) -> str | None:
    """The word for an enum value a caller sent; None for unspecified (0)."""
    if value == 0:
        return None
    name = word(words, value)
    if name is None:
        raise InvalidArgument(f"{field}: unknown enum value {value}", field=field)
    return name


def ts_to_dt(ts: Timestamp, field: str, *, default: datetime | None = None) -> datetime:
    """A set timestamp from 2000-01-01 to a year ahead, else ``default`` (unset); others are refused by name."""
    return fields.timestamp(ts, field, default=default)


def check_user_id(user_id: str, settings: Settings, field: str = "user_id") -> str:
    return fields.text(user_id, field, settings.engine.max_user_id_len, required=True)


def channel_name(value: int, field: str) -> str:
    name = _enum_word(CHANNELS, value, field)
    if name is None:
        raise InvalidArgument(f"{field}: channel must be set", field=field)
    return name


def trigger_name(value: int, field: str = "context.trigger") -> str:
    return _enum_word(TRIGGERS, value, field) or TRIGGERS[0]


def _batch(rows: Sequence[Any], field: str, limit: int) -> None:
    """Refuse an empty or oversized batch whole: INVALID_ARGUMENT naming the repeated field."""
    if not rows:
        raise InvalidArgument(f"{field} is empty", field=field)
    if len(rows) > limit:
        raise InvalidArgument(f"{field} has {len(rows)} entries; the limit is {limit} per call", field=field)


def recommend_query(req: pb.RecommendRequest, settings: Settings, *, now: datetime | None = None) -> RecommendQuery:
    lim = settings.limits
    uid = check_user_id(req.user_id, settings)
    limit = settings.engine.max_candidates
    if not 1 <= req.max_candidates <= limit:
        raise InvalidArgument(
            f"max_candidates must be between 1 and {limit}, got {req.max_candidates}", field="max_candidates"
        )
    ctx = req.context
    trigger = trigger_name(ctx.trigger)
    if len(req.allowed_channels) > lim.max_list_len:
        raise InvalidArgument(f"allowed_channels has more than {lim.max_list_len} entries", field="allowed_channels")
    channels = tuple(
        dict.fromkeys(channel_name(c, f"allowed_channels[{i}]") for i, c in enumerate(req.allowed_channels))
    )
    when = fields.timestamp(ctx.now, "context.now", default=now or datetime.now(UTC))
    lat = lon = None
    if ctx.HasField("location") and (ctx.location.lat or ctx.location.lon):
        lat, lon = fields.lat_lon(ctx.location.lat, ctx.location.lon, "context.location")
    return RecommendQuery(
        user_id=uid,
        now=when,
        trigger=trigger,
        city=fields.text(ctx.location.city, "context.location.city", lim.max_text_len),
        lat=lat,
        lon=lon,
        locale=fields.text(ctx.locale, "context.locale", lim.max_text_len),
        query=fields.text(ctx.query, "context.query", lim.max_query_len),
        cart_item_ids=tuple(
            fields.texts(list(ctx.cart_item_ids), "context.cart_item_ids", lim.max_id_len, lim.max_list_len)
        ),
        campaign_id=fields.text(ctx.campaign_id, "context.campaign_id", lim.max_id_len),
        allowed_channels=channels,
        max_candidates=req.max_candidates,
        write_copy=req.write_copy,
        reserve=req.reserve,
    )


def score_users_query(req: pb.ScoreUsersRequest, settings: Settings) -> tuple[list[str], datetime]:
    """The checked user ids and the as-of time (now when unset)."""
    _batch(req.user_ids, "user_ids", settings.server.max_users_per_call)
    ids = [check_user_id(u, settings, f"user_ids[{i}]") for i, u in enumerate(req.user_ids)]
    return ids, fields.timestamp(req.as_of, "as_of", default=datetime.now(UTC))


def report_events_rows(req: pb.ReportEventsRequest, settings: Settings) -> tuple[list[EventRow], list[str]]:
    """Per event a row or its rejection (see :func:`event_rows`), and the event ids as sent."""
    limit = settings.server.max_events_per_call
    if len(req.events) > limit:
        raise InvalidArgument(
            f"events has {len(req.events)} rows; the limit is {limit} per call (split the batch)", field="events"
        )
    rows = event_rows(req.events, settings)
    # A rejected row may carry an unusable id; it is echoed back only as far as the id limit allows.
    ids = [e.event_id[: settings.limits.max_id_len] for e in req.events]
    return rows, ids


def event_rows(events: Sequence[pb.Event], settings: Settings) -> list[EventRow]:
    """Per event: the canonical row, or ``None`` with the field and reason it was rejected."""
    out: list[EventRow] = []
    for e in events:
        try:
            out.append((_event_row(e, settings), "", ""))
        except InvalidArgument as exc:
            out.append((None, exc.field or "", exc.message))
    return out


def _event_row(e: pb.Event, settings: Settings) -> dict[str, Any]:
    lim = settings.limits
    uid = check_user_id(e.user_id, settings)
    event_type = word(EVENT_TYPES, e.event_type)
    if event_type is None:
        raise InvalidArgument(f"unknown event_type {e.event_type}", field="event_type")
    ts = fields.timestamp(e.ts, "ts")
    payload = ""
    if e.payload:
        payload = fields.json_payload(e.payload, "payload", lim.max_payload_bytes, lim.max_payload_depth)
        if event_type == "feedback":
            check_payload(payload, "payload")
    if e.quantity < 0:
        raise InvalidArgument(f"quantity must be >= 0, got {e.quantity}", field="quantity")
    value = fields.amount(e.value, "value", lim.max_amount, signed=True)
    channel = _enum_word(CHANNELS, e.channel, "channel")
    lat = lon = None
    if e.HasField("location"):
        lat, lon = fields.lat_lon(e.location.lat, e.location.lon, "location")
    return {
        "event_id": fields.text(e.event_id, "event_id", lim.max_id_len) or None,
        "user_id": uid,
        "ts": ts.timestamp(),
        "event_type": event_type,
        "item_id": fields.text(e.item_id, "item_id", lim.max_id_len) or None,
        "quantity": e.quantity or None,
        "value": value or None,
        "channel": channel,
        "campaign_id": fields.text(e.campaign_id, "campaign_id", lim.max_id_len) or None,
        "variant": fields.text(e.variant, "variant", lim.max_id_len) or None,
        "lat": lat,
        "lon": lon,
        "city": fields.text(e.location.city, "location.city", lim.max_text_len) or None,
        "payload": payload or None,
        "ts_offset_min": 0,
        "dedupe_key": fields.text(e.dedupe_key, "dedupe_key", lim.max_id_len),
    }


def item_rows(items: Sequence[pb.Item], settings: Settings) -> list[dict[str, Any]]:
    """Canonical item rows (attributes as extra keys); the first bad field refuses the whole call."""
    _batch(items, "items", settings.server.max_items_per_call)
    rows = []
    seen: set[str] = set()
    for i, it in enumerate(items):
        row = _item_row(it, f"items[{i}]", settings)
        if row["item_id"] in seen:
            raise InvalidArgument(f"items[{i}].item_id {row['item_id']!r} appears twice", field=f"items[{i}].item_id")
        seen.add(row["item_id"])
        rows.append(row)
    return rows


def _item_row(it: pb.Item, at: str, settings: Settings) -> dict[str, Any]:
    lim = settings.limits
    price = fields.amount(it.price, f"{at}.price", lim.max_amount)
    row: dict[str, Any] = {
        "item_id": fields.text(it.item_id, f"{at}.item_id", lim.max_id_len, required=True),
        "title": fields.text(it.title, f"{at}.title", lim.max_title_len, required=True),
        "description": fields.text(it.description, f"{at}.description", lim.max_description_len, strip=False),
        "category": fields.text(it.category, f"{at}.category", lim.max_text_len, strip=False),
        "price": price if price else None,
        "currency": fields.text(it.currency, f"{at}.currency", lim.max_text_len, strip=False),
        "image_url": fields.text(it.image_url, f"{at}.image_url", lim.max_url_len, strip=False),
        "video_url": fields.text(it.video_url, f"{at}.video_url", lim.max_url_len, strip=False),
        "audio_url": fields.text(it.audio_url, f"{at}.audio_url", lim.max_url_len, strip=False),
        "in_stock": it.in_stock,
        "cities": _LIST_SEP.join(
            fields.texts(list(it.cities), f"{at}.cities", lim.max_text_len, lim.max_list_len, forbid=_LIST_SEP)
        ),
        "tags": _LIST_SEP.join(
            fields.texts(list(it.tags), f"{at}.tags", lim.max_text_len, lim.max_list_len, forbid=_LIST_SEP)
        ),
    }
    row.update(_attributes(it, at, settings))
    row.update(_localized(it, at, settings, row))
    return row


def _attributes(it: pb.Item, at: str, settings: Settings) -> dict[str, str]:
    lim = settings.limits
    if len(it.attributes) > lim.max_attributes:
        raise InvalidArgument(
            f"{at}.attributes has {len(it.attributes)} entries; the limit is {lim.max_attributes}",
            field=f"{at}.attributes",
        )
    out: dict[str, str] = {}
    for name, value in sorted(it.attributes.items()):
        if len(name) > lim.max_id_len:
            raise InvalidArgument(
                f"{at}.attributes: a name is {len(name)} characters; the limit is {lim.max_id_len}",
                field=f"{at}.attributes",
            )
        fld = f"{at}.attributes[{name!r}]"
        key = fields.text(name, fld, lim.max_id_len, required=True, strip=False)
        if key.strip() != key:
            raise InvalidArgument(f"{fld}: an attribute name must not start or end with spaces", field=fld)
        if key in _RESERVED_ATTRIBUTES:
            raise InvalidArgument(f"{fld}: {key!r} is an item field, not an attribute; set {at}.{key}", field=fld)
        out[key] = fields.text(value, fld, lim.max_attribute_len, strip=False)
    return out


def _localized(it: pb.Item, at: str, settings: Settings, row: dict[str, Any]) -> dict[str, str]:
    """``it.localized`` as the columns the catalog keeps translations in (``title_zh-CN``); a
    translation the attributes already give differently is refused, not silently replaced."""
    lim = settings.limits
    if len(it.localized) > lim.max_attributes:
        raise InvalidArgument(
            f"{at}.localized has {len(it.localized)} entries; the limit is {lim.max_attributes}",
            field=f"{at}.localized",
        )
    limits = {"title": lim.max_title_len, "description": lim.max_description_len}
    given = {col: str(v) for k, v in row.items() if (col := localized_column(k)) is not None}
    out: dict[str, str] = {}
    for tag, text in sorted(it.localized.items()):
        if len(tag) > lim.max_id_len:
            raise InvalidArgument(
                f"{at}.localized: a locale is {len(tag)} characters; the limit is {lim.max_id_len}",
                field=f"{at}.localized",
            )
        at_tag = f"{at}.localized[{tag!r}]"
        if not is_locale_tag(tag):
            raise InvalidArgument(
                f"{at_tag}: {tag!r} is no locale; use a language or language-region such as 'zh' or 'zh-CN'",
                field=at_tag,
            )
        for name in LOCALIZED_FIELDS:
            fld = f"{at_tag}.{name}"
            v = fields.text(getattr(text, name), fld, limits[name], strip=name == "title")
            if not v.strip():
                continue
            column = column_name(name, tag)
            key = localized_column(column) or (name, tag)
            if given.get(key, v) != v:
                raise InvalidArgument(f"{fld}: another value for the same {name} is given for {tag!r}", field=fld)
            given[key] = out[column] = v
    return out


def user_rows(users: Sequence[pb.User], settings: Settings) -> list[dict[str, Any]]:
    """Canonical user rows; the first bad field refuses the whole call."""
    _batch(users, "users", settings.server.max_users_per_call)
    return [_user_row(u, f"users[{i}]", settings) for i, u in enumerate(users)]


def _user_row(u: pb.User, at: str, settings: Settings) -> dict[str, Any]:
    n = settings.limits.max_text_len
    return {
        "user_id": check_user_id(u.user_id, settings, f"{at}.user_id"),
        "signup_ts": fields.timestamp(
            u.signup_ts, f"{at}.signup_ts", default=datetime.now(UTC), earliest=fields.EARLIEST_SIGNUP
        ),
        "timezone": fields.text(u.timezone, f"{at}.timezone", n, strip=False),
        "locale": fields.text(u.locale, f"{at}.locale", n, strip=False),
        "city": fields.text(u.city, f"{at}.city", n, strip=False),
        "country": fields.text(u.country, f"{at}.country", n, strip=False),
        "push_opt_in": u.push_opt_in,
        "sms_opt_in": u.sms_opt_in,
        "email_opt_in": u.email_opt_in,
        "quiet_hours": fields.text(u.quiet_hours, f"{at}.quiet_hours", n, strip=False),
        "first_name": fields.text(u.first_name, f"{at}.first_name", n, strip=False),
    }


def profile_user_id(req: pb.GetUserProfileRequest, settings: Settings) -> str:
    return check_user_id(req.user_id, settings)


def profile_locale(req: pb.GetUserProfileRequest, settings: Settings) -> str:
    return fields.text(req.locale, "locale", settings.limits.max_text_len)


def message_args(req: pb.GenerateMessageRequest, settings: Settings) -> MessageArgs:
    lim = settings.limits
    return MessageArgs(
        user_id=check_user_id(req.user_id, settings),
        item_id=fields.text(req.item_id, "item_id", lim.max_id_len, required=True),
        channel=channel_name(req.channel or pb.CHANNEL_APP_PUSH, "channel"),
        trigger=trigger_name(req.context.trigger),
        locale=fields.text(req.context.locale, "context.locale", lim.max_text_len),
        offer=fields.text(req.offer, "offer", lim.max_text_len),
    )


def assistant_args(req: pb.AssistantReplyRequest, settings: Settings) -> AssistantArgs:
    lim = settings.limits
    uid = check_user_id(req.user_id, settings)
    _batch(req.conversation, "conversation", lim.max_turns)
    turns = []
    for i, t in enumerate(req.conversation):
        if t.role not in _ROLES:
            raise InvalidArgument(
                f"conversation[{i}].role must be one of {', '.join(_ROLES)}", field=f"conversation[{i}].role"
            )
        turns.append((t.role, fields.text(t.text, f"conversation[{i}].text", lim.max_turn_len, strip=False)))
    max_items = req.max_items or 3
    if not 1 <= max_items <= 20:
        raise InvalidArgument(f"max_items must be between 1 and 20, got {max_items}", field="max_items")
    return AssistantArgs(
        user_id=uid,
        turns=tuple(turns),
        max_items=max_items,
        locale=_reply_locale(fields.text(req.locale, "locale", lim.max_text_len)),
    )


def _reply_locale(locale: str) -> str:
    """The locale a reply falls back to ('' = the profile's); one the assistant cannot answer in is refused
    rather than answered in another language."""
    if not locale:
        return ""
    found = supported_locale(locale)
    if found is None:
        raise InvalidArgument(
            f"locale {locale!r} is not a language the assistant answers in: use an en or zh tag "
            f"({', '.join(LOCALES)}), or leave it empty to follow the conversation and the user's profile",
            field="locale",
        )
    return found
