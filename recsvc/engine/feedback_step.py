"""The steps of ``Recommend`` that read the user's feedback: the effects of their feedback reasons
(categories they rejected, hours they called a bad time) and whether the satisfaction survey is a
candidate, and the survey candidate itself. See :mod:`recsvc.feedback`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from recsvc.engine.history import Digest
from recsvc.engine.pipeline import Audience
from recsvc.engine.types import CandidateView, RecommendQuery, SendTimeView
from recsvc.feedback.config import FeedbackConfig
from recsvc.feedback.effects import FeedbackEffects, feedback_effects
from recsvc.feedback.survey import (
    SURVEY_KEY_PREFIX,
    SURVEY_REASON,
    SURVEY_SOURCE,
    survey_due,
    survey_item,
    survey_key,
    survey_message,
)
from recsvc.frequency.caps import CapLedger
from recsvc.frequency.channels import ChannelChoice
from recsvc.store import EventStore
from recsvc.timing.clock import Trigger
from recsvc.vocabulary import effective_locale


def user_feedback(
    store: EventStore, caps: CapLedger, digest: Digest, q: RecommendQuery, audience: Audience, config: FeedbackConfig
) -> tuple[FeedbackEffects, bool]:
    """The feedback effects in force for this request, and whether the survey is to be proposed."""

    def categories(item_ids: set[str]) -> dict[str, str]:
        return {i: str(row.get("category") or "") for i, row in store.items_by_id(item_ids).items()}

    effects = feedback_effects(digest.feedback, digest.pushes, q.now, audience.tz, categories, config)
    wanted = audience.trigger is Trigger.SURVEY or (
        config.survey_with_scheduled and audience.trigger is Trigger.SCHEDULED
    )
    if not wanted:
        return effects, False
    since = q.now - timedelta(days=config.survey_every_days)
    surveyed = caps.booked_since(q.user_id, since, SURVEY_KEY_PREFIX)
    return effects, survey_due(q.user_id, q.now, (ts for ts, _, _ in digest.feedback), surveyed, config)


def with_survey(
    views: Sequence[CandidateView],
    survey: bool,
    q: RecommendQuery,
    audience: Audience,
    choice: ChannelChoice,
    send_time: SendTimeView | None,
    expires_at: datetime,
) -> list[CandidateView]:
    """The survey alone for trigger ``survey``, else after the item candidates (when proposed)."""
    if not survey:
        return list(views)
    items = [] if audience.trigger is Trigger.SURVEY else list(views)
    rank = len(items) + 1
    lang = effective_locale(audience.locale)
    view = CandidateView(
        item=survey_item(lang),
        score=0.0,
        source=SURVEY_SOURCE,
        reason=SURVEY_REASON[lang],
        channel=choice.channel or "",
        channel_reason=choice.reason,
        message=survey_message(lang),  # a fixed template: no reason to leave it out
        send_time=send_time,
        priority=rank,
        expires_at=expires_at,
        dedupe_key=survey_key(q.user_id, choice.channel, q.campaign_id, q.now),
        rank=rank,
    )
    return [*items, view]
