"""Protobuf <-> domain conversion, with request validation that names the offending field.

The only module besides the servicer that touches ``recsvc_pb2``. Anything a caller can get wrong
is checked here and raised as ``InvalidArgument`` with the field path, so the servicer stays thin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.engine.types import (
    CHANNELS,
    STAGES,
    SUPPRESSIONS,
    TIERS,
    CandidateView,
    ItemView,
    LifecycleView,
    MessageView,
    ProfileView,
    RecommendQuery,
    RecommendResult,
    ReportResult,
    SendTimeView,
    UserScoreView,
)
from recsvc.errors import InvalidArgument
from recsvc.settings import Settings
from recsvc.v1 import recsvc_pb2 as pb

_MAX_FUTURE = timedelta(days=366)
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_EVENT_TYPES = {v: k[len("EVENT_TYPE_") :].lower() for k, v in pb.EventType.items() if v}
_MEDIA: dict[str, Any] = {"image": pb.MEDIA_TYPE_IMAGE, "video": pb.MEDIA_TYPE_VIDEO, "audio": pb.MEDIA_TYPE_AUDIO}


def _enum_name(enum: Any, value: int, field: str, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        raise InvalidArgument(f"{field}: unknown enum value {value}", field=field) from None
    return name[len(prefix) :].lower()


def ts_to_dt(ts: Timestamp, field: str, *, default: datetime | None = None, allow_past: bool = True) -> datetime:
    """A set timestamp within sane bounds, else ``default``; year 9999 is refused by name."""
    if ts.seconds == 0 and ts.nanos == 0:
        if default is None:
            raise InvalidArgument(f"{field} is required", field=field)
        return default
    try:
        dt = ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field}: timestamp out of range", field=field) from None
    now = datetime.now(UTC)
    if dt > now + _MAX_FUTURE:
        raise InvalidArgument(f"{field}: {dt.isoformat()} is more than a year in the future", field=field)
    if dt < _MIN_TS and not allow_past:
        raise InvalidArgument(f"{field}: {dt.isoformat()} is before 2000", field=field)
    return dt


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dt_to_ts(dt: datetime | None) -> Timestamp:
    """Exact (timedelta arithmetic) and several times faster than ``Timestamp.FromDatetime``."""
    if dt is None:
        return Timestamp()
    d = dt.astimezone(UTC) - _EPOCH
    return Timestamp(seconds=d.days * 86400 + d.seconds, nanos=d.microseconds * 1000)


def check_user_id(user_id: str, settings: Settings, field: str = "user_id") -> str:
    uid = user_id.strip()
    if not uid:
        raise InvalidArgument(f"{field} is empty", field=field)
    if len(uid) > settings.engine.max_user_id_len:
        raise InvalidArgument(
            f"{field} is {len(uid)} characters; the limit is {settings.engine.max_user_id_len}", field=field
        )
    return uid


def channel_name(value: int, field: str) -> str:
    name = _enum_name(pb.Channel, value, field, "CHANNEL_")
    if name == "unspecified":
        raise InvalidArgument(f"{field}: channel must be set", field=field)
    return name


def recommend_query(req: pb.RecommendRequest, settings: Settings, *, now: datetime | None = None) -> RecommendQuery:
    uid = check_user_id(req.user_id, settings)
    limit = settings.engine.max_candidates
    if not 1 <= req.max_candidates <= limit:
        raise InvalidArgument(
            f"max_candidates must be between 1 and {limit}, got {req.max_candidates}", field="max_candidates"
        )
    ctx = req.context
    trigger = _enum_name(pb.Trigger, ctx.trigger, "context.trigger", "TRIGGER_")
    if trigger == "unspecified":
        trigger = "scheduled"
    channels = tuple(
        dict.fromkeys(channel_name(c, f"allowed_channels[{i}]") for i, c in enumerate(req.allowed_channels))
    )
    when = ts_to_dt(ctx.now, "context.now", default=now or datetime.now(UTC))
    lat = lon = None
    if ctx.HasField("location") and (ctx.location.lat or ctx.location.lon):
        if not (-90 <= ctx.location.lat <= 90 and -180 <= ctx.location.lon <= 180):
            raise InvalidArgument("context.location: lat/lon out of range", field="context.location")
        lat, lon = ctx.location.lat, ctx.location.lon
    return RecommendQuery(
        user_id=uid,
        now=when,
        trigger=trigger,
        city=ctx.location.city.strip(),
        lat=lat,
        lon=lon,
        locale=ctx.locale.strip(),
        query=ctx.query.strip()[:1000],
        cart_item_ids=tuple(i for i in ctx.cart_item_ids if i),
        campaign_id=ctx.campaign_id,
        allowed_channels=channels,
        max_candidates=req.max_candidates,
        write_copy=req.write_copy,
        reserve=req.reserve,
    )


def event_rows(events: Sequence[pb.Event]) -> list[tuple[dict[str, Any] | None, str, str]]:
    """Per event: the canonical row, or ``None`` with the field and reason it was rejected."""
    out: list[tuple[dict[str, Any] | None, str, str]] = []
    for e in events:
        try:
            out.append((_event_row(e), "", ""))
        except InvalidArgument as exc:
            out.append((None, exc.field or "", exc.message))
    return out


def _event_row(e: pb.Event) -> dict[str, Any]:
    if not e.user_id.strip():
        raise InvalidArgument("user_id is empty", field="user_id")
    if len(e.user_id) > 128:
        raise InvalidArgument("user_id is over 128 characters", field="user_id")
    if e.event_type not in _EVENT_TYPES:
        raise InvalidArgument(f"unknown event_type {e.event_type}", field="event_type")
    ts = ts_to_dt(e.ts, "ts", allow_past=False)
    if e.payload:
        try:
            json.loads(e.payload)
        except ValueError:
            raise InvalidArgument("payload is not JSON", field="payload") from None
    if not math.isfinite(e.value):
        raise InvalidArgument("value is not a finite number", field="value")
    channel = None
    if e.channel:
        channel = _enum_name(pb.Channel, e.channel, "channel", "CHANNEL_")
    return {
        "event_id": e.event_id or None,
        "user_id": e.user_id.strip(),
        "ts": ts.timestamp(),
        "event_type": _EVENT_TYPES[e.event_type],
        "item_id": e.item_id or None,
        "quantity": e.quantity or None,
        "value": e.value or None,
        "channel": channel,
        "campaign_id": e.campaign_id or None,
        "variant": e.variant or None,
        "lat": e.location.lat if e.HasField("location") else None,
        "lon": e.location.lon if e.HasField("location") else None,
        "city": e.location.city or None if e.HasField("location") else None,
        "payload": e.payload or None,
        "ts_offset_min": 0,
    }


def item_rows(items: Sequence[pb.Item]) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for i, it in enumerate(items):
        if not it.item_id.strip():
            raise InvalidArgument(f"items[{i}].item_id is empty", field=f"items[{i}].item_id")
        if it.item_id in seen:
            raise InvalidArgument(f"items[{i}].item_id {it.item_id!r} appears twice", field=f"items[{i}].item_id")
        seen.add(it.item_id)
        if not it.title.strip():
            raise InvalidArgument(f"items[{i}].title is empty", field=f"items[{i}].title")
        if it.price < 0 or not math.isfinite(it.price):
            raise InvalidArgument(f"items[{i}].price must be >= 0", field=f"items[{i}].price")
        row: dict[str, Any] = {
            "item_id": it.item_id.strip(),
            "title": it.title.strip(),
            "description": it.description,
            "category": it.category,
            "price": it.price if it.price else None,
            "currency": it.currency,
            "image_url": it.image_url,
            "video_url": it.video_url,
            "audio_url": it.audio_url,
            "in_stock": it.in_stock,
            "cities": "|".join(it.cities),
            "tags": "|".join(it.tags),
        }
        row.update(dict(it.attributes))
        rows.append(row)
    return rows


def user_rows(users: Sequence[pb.User]) -> list[dict[str, Any]]:
    rows = []
    for i, u in enumerate(users):
        if not u.user_id.strip():
            raise InvalidArgument(f"users[{i}].user_id is empty", field=f"users[{i}].user_id")
        rows.append(
            {
                "user_id": u.user_id.strip(),
                "signup_ts": ts_to_dt(u.signup_ts, f"users[{i}].signup_ts", default=datetime.now(UTC)),
                "timezone": u.timezone,
                "locale": u.locale,
                "city": u.city,
                "country": u.country,
                "push_opt_in": u.push_opt_in,
                "sms_opt_in": u.sms_opt_in,
                "email_opt_in": u.email_opt_in,
                "quiet_hours": u.quiet_hours,
                "first_name": u.first_name,
            }
        )
    return rows


# ---- domain -> protobuf ------------------------------------------------------------------
# Generated stubs type enum fields as enum classes; these helpers return the plain wire values.
def _stage(name: str) -> Any:
    return STAGES.index(name) + 1 if name in STAGES else 0


def stage_value(name: str) -> Any:
    return _stage(name)


def writer_value(name: str) -> Any:
    return {"llm": pb.WRITER_LLM, "template": pb.WRITER_TEMPLATE}.get(name, 0)


def _tier(name: str) -> Any:
    return TIERS.index(name) + 1 if name in TIERS else 0


def _channel(name: str) -> Any:
    return CHANNELS.index(name) + 1 if name in CHANNELS else 0


def lifecycle_pb(v: LifecycleView) -> pb.LifecycleScore:
    return pb.LifecycleScore(
        current_stage=_stage(v.current_stage),
        predicted_stage=_stage(v.predicted_stage),
        stage_probabilities=[pb.StageScore(stage=_stage(s), probability=p) for s, p in v.stage_probs.items()],
        churn_risk=v.churn_risk,
        churn_horizon_days=v.horizon_days,
        churn_reasons=[pb.Reason(feature=r.feature, text=r.text, contribution=r.contribution) for r in v.churn_reasons],
        stage_reasons=[pb.Reason(feature=r.feature, text=r.text, contribution=r.contribution) for r in v.stage_reasons],
    )


def item_pb(it: ItemView) -> pb.Item:
    return pb.Item(
        item_id=it.item_id,
        title=it.title,
        description=it.description,
        category=it.category,
        price=it.price,
        currency=it.currency,
        image_url=it.image_url,
        video_url=it.video_url,
        audio_url=it.audio_url,
        in_stock=it.in_stock,
        cities=list(it.cities),
        tags=list(it.tags),
        attributes=it.attributes,
    )


def message_pb(m: MessageView) -> pb.Message:
    return pb.Message(
        title=m.title,
        body=m.body,
        call_to_action=m.cta,
        media_url=m.media_url,
        media_type=_MEDIA.get(m.media_type, 0),
        locale=m.locale,
        writer=pb.WRITER_LLM if m.writer == "llm" else pb.WRITER_TEMPLATE,
        variant=m.variant,
        guardrail_failed=m.guardrail_failed,
        model=m.model,
    )


def send_time_pb(s: SendTimeView) -> pb.SendTime:
    return pb.SendTime(
        send_at=dt_to_ts(s.send_at),
        confidence=s.confidence,
        window_start=dt_to_ts(s.window_start),
        window_end=dt_to_ts(s.window_end),
        local_hour=s.local_hour,
        timezone=s.timezone,
    )


def candidate_pb(c: CandidateView) -> pb.Candidate:
    out = pb.Candidate(
        item=item_pb(c.item),
        score=c.score,
        source=c.source,
        reason=c.reason,
        channel=_channel(c.channel),
        channel_reason=c.channel_reason,
        priority=c.priority,
        expires_at=dt_to_ts(c.expires_at),
        dedupe_key=c.dedupe_key,
        rank=c.rank,
    )
    if c.message is not None:
        out.message.CopyFrom(message_pb(c.message))
    if c.send_time is not None:
        out.send_time.CopyFrom(send_time_pb(c.send_time))
    return out


def versions_pb(v: dict[str, str]) -> pb.ModelVersions:
    return pb.ModelVersions(
        lifecycle=v.get("lifecycle", ""),
        recs=v.get("recs", ""),
        sendtime=v.get("sendtime", ""),
        copy_model=v.get("copy", ""),
    )


def recommend_pb(r: RecommendResult) -> pb.RecommendResponse:
    out = pb.RecommendResponse(
        user_id=r.user_id,
        new_user=r.new_user,
        lifecycle=lifecycle_pb(r.lifecycle),
        engagement_tier=_tier(r.tier),
        candidates=[candidate_pb(c) for c in r.candidates],
        model_versions=versions_pb(r.versions),
        request_id=r.request_id,
    )
    curve = out.send_curve  # built in place: a per-hour message constructor dominated the conversion
    for h, p in r.send_curve:
        d = h.astimezone(UTC) - _EPOCH
        curve.add(propensity=p).hour_start.seconds = d.days * 86400 + d.seconds
    if r.suppression is not None:
        s = r.suppression
        out.suppression.CopyFrom(
            pb.Suppression(
                reason=cast(Any, SUPPRESSIONS.index(s.reason) + 1 if s.reason in SUPPRESSIONS else 0),
                detail=s.detail,
                retry_after=dt_to_ts(s.retry_after),
            )
        )
    return out


def user_score_pb(s: UserScoreView) -> pb.UserScore:
    return pb.UserScore(
        user_id=s.user_id, lifecycle=lifecycle_pb(s.lifecycle), engagement_tier=_tier(s.tier), known=s.known
    )


def report_pb(r: ReportResult) -> pb.ReportEventsResponse:
    return pb.ReportEventsResponse(
        accepted=r.accepted,
        duplicate=r.duplicate,
        rejected=len(r.rejections),
        rejections=[
            pb.RejectedEvent(index=x.index, event_id=x.event_id, field=x.field, reason=x.reason) for x in r.rejections
        ],
    )


def profile_pb(p: ProfileView) -> pb.UserProfile:
    u = p.user
    signup = u.get("signup_ts")
    user = pb.User(
        user_id=str(u.get("user_id", "")),
        timezone=str(u.get("timezone") or ""),
        locale=str(u.get("locale") or ""),
        city=str(u.get("city") or ""),
        country=str(u.get("country") or ""),
        push_opt_in=bool(u.get("push_opt_in", True)),
        sms_opt_in=bool(u.get("sms_opt_in", True)),
        email_opt_in=bool(u.get("email_opt_in", True)),
        quiet_hours=str(u.get("quiet_hours") or ""),
        first_name=str(u.get("first_name") or ""),
    )
    if isinstance(signup, int | float) and signup == signup:
        user.signup_ts.FromDatetime(datetime.fromtimestamp(float(signup), UTC))
    out = pb.UserProfile(
        user=user,
        known=p.known,
        lifecycle=lifecycle_pb(p.lifecycle),
        engagement_tier=_tier(p.tier),
        event_count=p.event_count,
        recent_item_ids=list(p.recent_item_ids),
        top_categories=list(p.top_categories),
        sends_last_7d=p.sends_last_7d,
        unsubscribed=[_channel(c) for c in p.unsubscribed],
        model_versions=versions_pb(p.versions),
    )
    if p.last_event_at is not None:
        out.last_event_at.CopyFrom(dt_to_ts(p.last_event_at))
    return out
