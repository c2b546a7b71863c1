"""Domain results -> protobuf responses: the servicer hands engine results here and returns the message.

The counterpart of :mod:`recsvc.server.convert` (requests -> domain values). Generated stubs type
enum fields as enum classes; the helpers below return the plain wire values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.engine.types import (
    CandidateView,
    ItemView,
    LifecycleView,
    MessageView,
    ProfileView,
    ReasonView,
    RecommendResult,
    ReportResult,
    SendTimeView,
    UserScoreView,
)
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.vocabulary import CHANNELS, MEDIA_TYPES, STAGES, SUPPRESSIONS, TIERS, WRITERS, enum_value

# Answers give an item's text in the reader's locale, never the per-locale ``localized`` map.
_ITEM_FIELDS = tuple(f.name for f in fields(ItemView))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dt_to_ts(dt: datetime | None) -> Timestamp:
    """Exact (timedelta arithmetic) and several times faster than ``Timestamp.FromDatetime``."""
    if dt is None:
        return Timestamp()
    d = dt.astimezone(UTC) - _EPOCH
    return Timestamp(seconds=d.days * 86400 + d.seconds, nanos=d.microseconds * 1000)


def _stage(name: str) -> Any:
    return enum_value(STAGES, name)


def stage_value(name: str) -> Any:
    return _stage(name)


def writer_value(name: str) -> Any:
    return enum_value(WRITERS, name)


def _tier(name: str) -> Any:
    return enum_value(TIERS, name)


def _channel(name: str) -> Any:
    return enum_value(CHANNELS, name)


def _reasons_pb(reasons: Sequence[ReasonView]) -> list[pb.Reason]:
    return [pb.Reason(feature=r.feature, text=r.text, contribution=r.contribution) for r in reasons]


def lifecycle_pb(v: LifecycleView) -> pb.LifecycleScore:
    return pb.LifecycleScore(
        current_stage=_stage(v.current_stage),
        predicted_stage=_stage(v.predicted_stage),
        stage_probabilities=[pb.StageScore(stage=_stage(s), probability=p) for s, p in v.stage_probs.items()],
        churn_risk=v.churn_risk,
        churn_horizon_days=v.horizon_days,
        churn_reasons=_reasons_pb(v.churn_reasons),
        stage_reasons=_reasons_pb(v.stage_reasons),
    )


def item_pb(it: ItemView) -> pb.Item:
    """``ItemView`` has the fields of ``pb.Item`` but ``localized``."""
    return pb.Item(**{name: getattr(it, name) for name in _ITEM_FIELDS})


def message_pb(m: MessageView) -> pb.Message:
    return pb.Message(
        title=m.title,
        body=m.body,
        call_to_action=m.cta,
        media_url=m.media_url,
        media_type=cast(Any, enum_value(MEDIA_TYPES, m.media_type)),
        locale=m.locale,
        writer=cast(Any, enum_value(WRITERS, m.writer) or enum_value(WRITERS, "template")),
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
        experiment_id=r.experiment_id,
        arm=r.arm,
    )
    curve = out.send_curve  # built in place: a message constructor per hour would dominate the conversion
    for h, p in r.send_curve:
        d = h.astimezone(UTC) - _EPOCH
        curve.add(propensity=p).hour_start.seconds = d.days * 86400 + d.seconds
    if r.suppression is not None:
        s = r.suppression
        out.suppression.CopyFrom(
            pb.Suppression(
                reason=cast(Any, enum_value(SUPPRESSIONS, s.reason)),
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
        recent_items=[item_pb(it) for it in p.recent_items],
        top_categories=list(p.top_categories),
        sends_last_7d=p.sends_last_7d,
        unsubscribed=[_channel(c) for c in p.unsubscribed],
        model_versions=versions_pb(p.versions),
    )
    if p.last_event_at is not None:
        out.last_event_at.CopyFrom(dt_to_ts(p.last_event_at))
    return out
