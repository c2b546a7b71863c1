"""Request and message types of the copywriter (plain dataclasses: the server maps them to protos)."""

from __future__ import annotations

from dataclasses import dataclass

from recsvc.config_checks import FieldChecks
from recsvc.vocabulary import CHANNELS, STAGES, TRIGGERS, effective_locale


@dataclass(frozen=True)
class CopyRequest:
    """The facts a message may use; anything not here must not appear in the copy."""

    user_id: str
    first_name: str = ""
    locale: str = "en-US"
    stage: str = "interest"
    trigger: str = "scheduled"
    channel: str = "app_push"
    item_id: str = ""
    item_title: str = ""
    price: float | None = None
    currency: str = ""
    offer: str | None = None
    city: str = ""
    reason: str = ""
    item_url: str = ""
    image_url: str = ""
    video_url: str = ""
    audio_url: str = ""
    variant: str = ""
    # Facts about the item for this reader (see recsvc.copy.facts): trigger copy claims only these.
    in_cart: bool = False
    price_dropped_from: float | None = None
    back_in_stock: bool = False
    item_category: str = ""
    item_description: str = ""  # in the reader's locale

    @property
    def lang(self) -> str:
        return effective_locale(self.locale)

    def validate(self) -> CopyRequest:
        """Raise ``InvalidArgument`` naming the bad field; unknown locales are not an error (fallback)."""
        c = FieldChecks(self)
        c.one_of("stage", STAGES)
        c.one_of("trigger", TRIGGERS)
        c.one_of("channel", CHANNELS)
        c.require(bool(self.item_title.strip()), "item_title", "must not be empty")
        c.require(self.price is None or self.price >= 0, "price", f"must be >= 0, got {self.price}")
        return self


@dataclass(frozen=True)
class Message:
    """One piece of copy and how it was made (``writer`` and ``guardrail_failed`` explain fallbacks)."""

    title: str
    body: str
    cta: str
    media_url: str = ""
    media_type: str = ""  # image|video|audio|''
    locale: str = "en-US"
    writer: str = "template"  # llm|template
    variant: str = ""
    guardrail_failed: str = ""  # '' when none
    latency_ms: float = 0.0
    model: str = ""
    # Why a template answered when an LLM was configured: '', 'budget', 'unavailable', 'guardrail', 'backoff'.
    fallback_reason: str = ""
    cached: bool = False
