"""The one rule for what counts as a user's *activity*, shared by every evaluation (DATA.md).

An activity is an event the user made. Every event type is one except the service's own sends:
``push_delivered`` records that a push reached the device, which the app did, not the user.
Counting sends would let a campaign keep a silent user "active" (churn labels), set the "hour of
the next visit" to our own send hour (send-time truth) and put the pushed item in the user's
history (products). Models still see every event before the cut-off, as in production: the rule
decides who is judged, the labels and truths, and what the baselines learn from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsvc.vocabulary import SERVICE_EVENT_TYPES

NOT_ACTIVITY: frozenset[str] = SERVICE_EVENT_TYPES
RULE = "every event type except push_delivered (a send by the service, not an action of the user)"


def is_activity(event_types: pd.Series) -> np.ndarray:
    """Boolean mask: which rows are the user's own actions."""
    return np.asarray(~event_types.astype(str).isin(NOT_ACTIVITY), dtype=bool)


def activity(events: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``events`` that are activities (the user's own actions)."""
    return events[is_activity(events["event_type"])]
