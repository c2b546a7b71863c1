"""Attribution windows and model (TOML ``[attribution]``, ``RECSVC_ATTRIBUTION_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from recsvc.config_checks import POSITIVE, FieldChecks
from recsvc.vocabulary import ATTRIBUTION_MODELS


@dataclass(frozen=True)
class AttributionConfig:
    """How long after a send's planned time each kind of event still counts for it, in hours, and
    which send an event without a dedupe key goes to when several are in the window."""

    open_window_h: float = 24.0  # delivered, opened, dismissed
    click_window_h: float = 24.0  # push, SMS and email clicks
    conversion_window_h: float = 72.0  # purchases
    unsubscribe_window_h: float = 24.0
    feedback_window_h: float = 72.0
    model: str = "last_touch"  # or first_touch

    def validate(self) -> AttributionConfig:
        c = FieldChecks(self, prefix="attribution.", field_prefix="attribution.")
        c.each(
            POSITIVE,
            "open_window_h",
            "click_window_h",
            "conversion_window_h",
            "unsubscribe_window_h",
            "feedback_window_h",
        )
        c.one_of("model", ATTRIBUTION_MODELS)
        return self
