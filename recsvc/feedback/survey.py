"""The satisfaction survey as a push candidate (trigger ``survey``).

Proposed to ``feedback.survey_share`` of users (a stable hash of the user id under
``feedback.survey_salt``), at most once per ``feedback.survey_every_days``: not when a survey send
was booked in that time (its dedupe key starts with :data:`SURVEY_KEY_PREFIX`, so the caps ledger
on either store knows it), nor when the user gave any feedback in that time (they just did).
The copy is a fixed template per copy locale; the answer comes back as a ``feedback`` event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from recsvc.engine.types import ItemView, MessageView
from recsvc.experiments.assignment import unit_hash
from recsvc.feedback.config import FeedbackConfig
from recsvc.vocabulary import effective_locale

SURVEY_KEY_PREFIX = "survey-"
SURVEY_SOURCE = "survey"
SURVEY_VARIANT = "survey"

# (title, body, call to action) per copy locale; the zh-CN copy is written for zh-CN readers, not translated.
SURVEY_COPY: dict[str, tuple[str, str, str]] = {
    "en-US": (
        "How are our messages working for you?",
        "One quick question: too many, not for you, or at the wrong time? Tell us and we'll adjust.",
        "Give feedback",
    ),
    "zh-CN": (
        "我们的推送还合你心意吗？",
        "花几秒告诉我们：是推送太频繁、内容不感兴趣，还是时间不合适？我们会马上调整。",
        "说说看法",
    ),
}
SURVEY_REASON = {"en-US": "a short satisfaction survey", "zh-CN": "简短的满意度调查"}


def in_survey_sample(user_id: str, config: FeedbackConfig) -> bool:
    return config.survey_share > 0 and unit_hash(config.survey_salt, user_id) < config.survey_share


def survey_due(
    user_id: str,
    now: datetime,
    feedback_times: Iterable[float],
    surveyed_since: bool,
    config: FeedbackConfig,
) -> bool:
    """Whether to propose the survey now (``surveyed_since``: a survey was booked in the last
    ``survey_every_days``)."""
    if surveyed_since or not in_survey_sample(user_id, config):
        return False
    since = now.timestamp() - config.survey_every_days * 86400.0
    return not any(since <= ts <= now.timestamp() for ts in feedback_times)


def survey_key(user_id: str, channel: str | None, campaign_id: str, now: datetime) -> str:
    """One survey send per user, channel, campaign and day, recognisable in the caps ledger."""
    digest = hashlib.sha1(f"{user_id}|survey|{channel}|{campaign_id}|{now:%Y%m%d}".encode()).hexdigest()[:20]
    return SURVEY_KEY_PREFIX + digest


def survey_item(locale: str) -> ItemView:
    title, body, _ = SURVEY_COPY[effective_locale(locale)]
    return ItemView(item_id="", title=title, description=body)


def survey_message(locale: str) -> MessageView:
    lang = effective_locale(locale)
    title, body, cta = SURVEY_COPY[lang]
    return MessageView(
        title=title,
        body=body,
        cta=cta,
        media_url="",
        media_type="",
        locale=lang,
        writer="template",
        variant=SURVEY_VARIANT,
        guardrail_failed="",
        model="",
    )
