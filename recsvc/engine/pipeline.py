"""Steps of ``Recommend`` that need no engine state beyond their arguments: who the request is for (city,
locale, time zone, quiet hours, trigger), the recs request, the channel, the send slot, why a send is
suppressed, the copy budget, and the candidates in API terms with their expiry and dedupe key.
:meth:`recsvc.engine.engine.Engine.recommend` runs them in order."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from recsvc.copy.config import CopyConfig
from recsvc.engine.models import ModelSet
from recsvc.engine.types import CandidateView, MessageView, RecommendQuery, SendTimeView, SuppressionView
from recsvc.engine.views import item_view, refusal_view
from recsvc.frequency.caps import CapLedger, CapState
from recsvc.frequency.channels import ChannelChoice, ChannelStats, choose_channel
from recsvc.frequency.config import FrequencyConfig
from recsvc.recs.serving import Candidate, RecRequest
from recsvc.timing.clock import QuietHours, Trigger, resolve_timezone
from recsvc.timing.config import TimingConfig
from recsvc.timing.sendtime import SlotChoice
from recsvc.vocabulary import STAGES, EngagementTier, enum_value


@dataclass(frozen=True)
class Audience:
    """Where and how the user is reached for this request: the request's values over the user record's."""

    city: str
    locale: str
    tz: ZoneInfo
    quiet: QuietHours
    trigger: Trigger

    @classmethod
    def of(cls, q: RecommendQuery, user: dict[str, Any], timing: TimingConfig) -> Audience:
        """Raises ``InvalidArgument`` for an unknown time zone or trigger, or malformed quiet hours."""
        city = q.city or str(user.get("city") or "")
        return cls(
            city=city,
            locale=q.locale or str(user.get("locale") or "") or "en-US",
            tz=resolve_timezone(str(user.get("timezone") or "") or None, city or None),
            quiet=QuietHours.parse(str(user.get("quiet_hours") or "") or None, default=timing.default_quiet_hours),
            trigger=Trigger.parse(q.trigger),
        )


def rec_request(
    q: RecommendQuery, audience: Audience, stage: str, recently_pushed: frozenset[str], policy: str = "model"
) -> RecRequest:
    return RecRequest(
        user_id=q.user_id,
        history=[],  # read from the store only when the candidates are not cached
        now=q.now,
        city=audience.city,
        stage=enum_value(STAGES, stage),
        trigger=q.trigger,
        query_text=q.query or None,
        k=q.max_candidates,
        recently_pushed=recently_pushed,
        policy=policy,
    )


def pick_channel(
    q: RecommendQuery,
    user: dict[str, Any],
    unsubscribed: set[str],
    stats: dict[str, ChannelStats] | None,
    config: FrequencyConfig,
    only: str | None = None,
) -> ChannelChoice:
    """``only``: an experiment arm's channel, used when the caller allows it (the caller's list wins)."""
    known = bool(user)
    allowed = q.allowed_channels or None
    if only is not None and (allowed is None or only in allowed):
        allowed = (only,)
    return choose_channel(
        opt_in={
            "app_push": bool(user.get("push_opt_in", 1)),
            "sms": bool(user.get("sms_opt_in", 0)),
            "email": bool(user.get("email_opt_in", 0)),
            "in_app": True,
        },
        # Without device tokens, push and in-app reach anyone who has the app; SMS and email need a
        # known user record (where the phone and address live).
        reachable={"app_push": True, "in_app": True, "sms": known, "email": known},
        allowed=allowed,
        unsubscribed=unsubscribed,
        stats=stats,
        preferred="app_push",
        config=config,
    )


# What the other hours weigh beside an arm's fixed hour: they are only taken when that hour is not
# in the send window or is quiet, and then in the model's order.
_OTHER_HOURS = 1e-6


def arm_hour_weights(hour: int | None, weights: np.ndarray | None) -> np.ndarray | None:
    """``weights`` (per local hour, or None) with an experiment arm's fixed ``hour`` made the choice."""
    if hour is None:
        return weights
    fixed = np.full(24, _OTHER_HOURS)
    fixed[hour] = 1.0
    return fixed if weights is None else fixed * weights


def best_slot(
    models: ModelSet,
    q: RecommendQuery,
    audience: Audience,
    window: tuple[datetime, datetime],
    hour_weights: np.ndarray | None = None,
) -> SlotChoice | None:
    """The send time in the trigger's window outside quiet hours, or None when the window is all quiet
    (``hour_weights``: the user's bad-time feedback, see :mod:`recsvc.feedback.effects`)."""
    return models.sendtime.best_slot(
        q.user_id,
        now_utc=q.now,
        tz=audience.tz,
        quiet=audience.quiet,
        window_start_utc=window[0],
        window_end_utc=window[1],
        segment=audience.city or None,
        hour_weights=hour_weights,
    )


def suppression(
    caps: CapLedger,
    q: RecommendQuery,
    channel: str | None,
    tier: EngagementTier,
    trigger: Trigger,
    slot: SlotChoice | None,
    cands: Sequence[Candidate],
    caps_state: CapState,
    survey: bool = False,
) -> SuppressionView | None:
    """Why nothing should be sent now, or None. Candidates stay in the answer for previews.
    ``caps_state``: the user's opt-outs and cap facts at ``q.now``, read once for the whole request
    (:meth:`CapLedger.cap_state`). ``survey``: the satisfaction survey is a candidate too."""
    if trigger is Trigger.SURVEY and not survey:
        return SuppressionView("no_candidates", "no survey is due for this user (sample, survey cap, recent feedback)")
    if not cands and not survey:
        return SuppressionView("no_candidates", "no item passed the business rules for this user")
    if channel is None:
        unsubscribed = caps_state.unsubscribed_channels()
        if unsubscribed:
            return SuppressionView("opted_out", f"unsubscribed from {', '.join(sorted(unsubscribed))}")
        return SuppressionView("no_channel", "no allowed channel is opted in and reachable")
    verdict = caps.verdict(caps_state, channel, tier, key_moment=trigger.key_moment)
    if verdict is not None:
        return refusal_view(verdict)
    if slot is None:
        return SuppressionView("quiet_hours", "the whole send window falls in the user's quiet hours")
    return None


def may_book(suppressed: SuppressionView | None, slot: SlotChoice | None) -> bool:
    """Whether a reservation is worth trying. A preview may say "cap reached" because this very send
    is already booked: reserve anyway, since the ledger's atomic answer (booked, duplicate or refused)
    is the one that counts."""
    return suppressed is None or (suppressed.reason == "frequency_cap" and slot is not None)


def copy_budget(config: CopyConfig, deadline_s: float | None, t0: float) -> float:
    """Seconds the copy may take: ``copy.copy_budget_ms``, within the caller's deadline (counted from
    ``time.perf_counter()`` ``t0``) less 50 ms for the answer."""
    budget = config.copy_budget_ms / 1000.0
    if deadline_s is not None:
        spent = time.perf_counter() - t0
        budget = max(0.0, min(budget, deadline_s - spent - 0.05))
    return budget


def expiry(now: datetime, window_end: datetime, ttl_hours: int) -> datetime:
    """Until when a candidate may be sent: the trigger's window, or ``ttl_hours`` once the window is past."""
    return window_end if window_end > now else now + timedelta(hours=ttl_hours)


def dedupe_key(q: RecommendQuery, item_id: str, channel: str | None) -> str:
    """One key per user, item, channel, campaign and day: a send booked twice is booked once."""
    return hashlib.sha1(f"{q.user_id}|{item_id}|{channel}|{q.campaign_id}|{q.now:%Y%m%d}".encode()).hexdigest()[:20]


def candidate_views(
    q: RecommendQuery,
    shown: Sequence[Candidate],
    choice: ChannelChoice,
    send_time: SendTimeView | None,
    expires_at: datetime,
    messages: Sequence[MessageView | None],
) -> list[CandidateView]:
    """The shown candidates in API terms, ranked from 1, each with its message."""
    return [
        CandidateView(
            item=item_view(c),
            score=float(c.score),
            source=c.source,
            reason=c.reason,
            channel=choice.channel or "",
            channel_reason=choice.reason,
            message=msg,
            send_time=send_time,
            priority=rank,
            expires_at=expires_at,
            dedupe_key=dedupe_key(q, c.item_id, choice.channel),
            rank=rank,
        )
        for rank, (c, msg) in enumerate(zip(shown, messages, strict=True), start=1)
    ]
