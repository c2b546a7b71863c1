"""The domain's words: lifecycle stages, engagement tiers, channels, triggers, event types,
suppression reasons, copy writers, media types, locales, and the words of push outcomes
(attribution methods and models, send-time sources, feedback reasons, outcome dimensions).

Every package takes these from here, and nowhere else defines them. Each tuple is in the order of
its protobuf enum in ``protos/recsvc/v1/recsvc.proto``: the word at index ``i`` is enum value
``i + 1`` (value 0 is ``*_UNSPECIFIED``), so :func:`enum_value` and :func:`word` convert without
importing generated code. ``tests/unit/test_vocabulary.py`` checks that each tuple matches its enum.
"""

from __future__ import annotations

import enum


class Stage(enum.IntEnum):
    """Lifecycle stage; the values are the proto's ``LifecycleStage`` values."""

    AWARENESS = 1
    INTEREST = 2
    PURCHASE = 3
    LOYAL = 4
    CHURNING = 5


class EngagementTier(enum.IntEnum):
    """Engagement tier; the values are the proto's ``EngagementTier`` values."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3
    DORMANT = 4


STAGES: tuple[str, ...] = tuple(s.name.lower() for s in Stage)
TIERS: tuple[str, ...] = tuple(t.name.lower() for t in EngagementTier)
CHANNELS: tuple[str, ...] = ("app_push", "sms", "email", "in_app")
TRIGGERS: tuple[str, ...] = ("scheduled", "purchase_completed", "cart_idle", "geo_enter", "app_open", "survey")
# Assistant replies rank products too, but "chat" is no push trigger, so the proto has no value for it.
CHAT_TRIGGER = "chat"
RANKING_TRIGGERS: tuple[str, ...] = (*TRIGGERS, CHAT_TRIGGER)
EVENT_TYPES: tuple[str, ...] = (
    "app_open",
    "view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "push_delivered",
    "push_opened",
    "push_clicked",
    "push_dismissed",
    "sms_clicked",
    "email_opened",
    "email_clicked",
    "unsubscribe",
    "feedback",
    "geo_enter",
)
# The events the service made, not the user: a delivered push says nothing of the user's taste and
# touches no item (DATA.md's activity rule; the product recommender's history skips them too).
SERVICE_EVENT_TYPES: frozenset[str] = frozenset({"push_delivered"})
# The events that are a click on a send (what bandits learn from).
CLICK_EVENT_TYPES: tuple[str, ...] = ("push_clicked", "sms_clicked", "email_clicked")
# What counts as a user being active, for retention: what users do of their own accord (answers to a
# push are left out, so that users who are never pushed are not counted as less active for that alone).
RETENTION_EVENT_TYPES: tuple[str, ...] = ("app_open", "view", "search", "add_to_cart", "remove_from_cart", "purchase")
SUPPRESSIONS: tuple[str, ...] = (
    "frequency_cap",
    "quiet_hours",
    "opted_out",
    "no_channel",
    "no_candidates",
    "low_tier_not_key_moment",
    "duplicate",
    "held_out",
)
WRITERS: tuple[str, ...] = ("llm", "template")
MEDIA_TYPES: tuple[str, ...] = ("image", "video", "audio")
# Locales the copy is written in; any other locale is written in the closest of these.
LOCALES: tuple[str, ...] = ("en-US", "zh-CN")
DEFAULT_LOCALE = "en-US"
# Slices of the outcome metrics (proto ``OutcomeDimension``); "experiment_arm" is experiment and arm together.
OUTCOME_DIMENSIONS: tuple[str, ...] = (
    "stage",
    "tier",
    "channel",
    "trigger",
    "writer",
    "variant",
    "locale",
    "experiment_arm",
    "campaign",
)
# How an event found its send: the caller's dedupe key, the campaign id and user, or the user's last send.
ATTRIBUTION_METHODS: tuple[str, ...] = ("dedupe_key", "campaign", "window")
# Which of the sends in the window an event without a dedupe key goes to.
ATTRIBUTION_MODELS: tuple[str, ...] = ("last_touch", "first_touch")
# Where a booked send's planned time came from: the send-time model's slot, the first minute after a
# window that was all quiet hours, the request's own time (no slot), or an experiment arm's fixed hour.
SEND_TIME_SOURCES: tuple[str, ...] = ("model", "deferred", "request_time", "fixed_hour")


def enum_value(words: tuple[str, ...], name: str) -> int:
    """The proto enum value of ``name`` in ``words``; 0 (unspecified) for a word not in it."""
    return words.index(name) + 1 if name in words else 0


def word(words: tuple[str, ...], value: int) -> str | None:
    """The word for proto enum value ``value``; None for 0 and for values outside ``words``."""
    return words[value - 1] if 1 <= value <= len(words) else None


def stage_name(stage: int) -> str:
    """The word for a :class:`Stage` value, "awareness" for anything else."""
    return word(STAGES, int(stage)) or STAGES[0]


def tier_name(tier: int) -> str:
    """The word for an :class:`EngagementTier` value, "dormant" for anything else."""
    return word(TIERS, int(tier)) or TIERS[-1]


def effective_locale(locale: str) -> str:
    """Map any locale to one we write in: Chinese variants to zh-CN, everything else to en-US."""
    return "zh-CN" if locale.lower().replace("_", "-").startswith("zh") else DEFAULT_LOCALE


# What an experiment may vary: the copy's writer or variant, the send-time policy (model vs. a fixed
# hour), the recommendation source (model vs. popular), the channel policy, and "holdout" (no push).
EXPERIMENT_DECISIONS: tuple[str, ...] = (
    "copy_writer",
    "copy_variant",
    "send_time_policy",
    "recs_source",
    "channel_policy",
    "holdout",
)
# The outcomes an experiment can be judged on (its primary metric and its guardrails).
EXPERIMENT_METRICS: tuple[str, ...] = (
    "send",
    "delivered",
    "open_rate",
    "click_rate",
    "conversion_rate",
    "revenue_per_send",
    "unsubscribe_rate",
    "feedback_score",
)
# "split": fixed weights for the whole run; "optimize": a bandit moves traffic to the winning arm.
EXPERIMENT_MODES: tuple[str, ...] = ("split", "optimize")
# The decisions a bandit may optimize: those made per send, after the channel is known.
OPTIMIZABLE_DECISIONS: tuple[str, ...] = ("copy_writer", "copy_variant", "send_time_policy")
# Where a recommendation experiment's arm takes its items from: the ranker, or plain popularity.
RECS_POLICIES: tuple[str, ...] = ("model", "popular")
# The arm of a "holdout" experiment whose users get no push (the others are pushed as usual), and
# the arms the global control group's exposures are recorded under.
HOLDOUT_ARM = "holdout"
GLOBAL_CONTROL_ARMS: tuple[str, ...] = ("pushed", "global_control")

# Why a user gave a ``feedback`` event (its payload's ``reasons``): each but "other" changes what they get next.
FEEDBACK_REASONS: tuple[str, ...] = ("too_many", "not_relevant", "bad_time", "other")
