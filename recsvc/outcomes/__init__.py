"""What booked pushes did: each send's record, events attributed to it, and metrics over them."""

from __future__ import annotations

from recsvc.outcomes.attribution import ATTRIBUTED_EVENT_TYPES, Attribution, attribute_events
from recsvc.outcomes.config import AttributionConfig
from recsvc.outcomes.exposures import GLOBAL_EXPERIMENT, Exposure, RetentionRow
from recsvc.outcomes.log import OutcomeLog
from recsvc.outcomes.metrics import OutcomeQuery, OutcomeRow
from recsvc.outcomes.sends import SendRecord

__all__ = [
    "ATTRIBUTED_EVENT_TYPES",
    "GLOBAL_EXPERIMENT",
    "Attribution",
    "AttributionConfig",
    "Exposure",
    "OutcomeLog",
    "OutcomeQuery",
    "OutcomeRow",
    "RetentionRow",
    "SendRecord",
    "attribute_events",
]
