"""What a user's recent feedback reasons change in what they get next, read from their stored
``feedback`` events (so every host and every restart agrees):

- ``not_relevant``: candidates in the category of the item the feedback names score
  ``feedback.not_relevant_penalty`` times lower for ``feedback.not_relevant_days``, and their reason
  no longer says the user likes that category;
- ``bad_time``: the local hour the rejected push arrived (the last push of the named item within
  ``bad_time_lookback_hours`` before the feedback, else the feedback's own time), and
  ``bad_time_spread`` hours either side, get ``bad_time_penalty`` times the send propensity for
  ``bad_time_days``.

``too_many`` acts on caps, inside the reservation itself (:mod:`recsvc.frequency.caps`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from recsvc.feedback.config import FeedbackConfig
from recsvc.feedback.payload import read_payload
from recsvc.recs.reasons import Reason
from recsvc.recs.serving import Candidate

FeedbackRow = tuple[float, str | None, str | None]  # (unix ts, item_id, payload) of a feedback event
# Reasons that say the user likes the candidate's category: not true of a category they rejected.
_CATEGORY_CLAIMS = frozenset({"similar", "popular_category", "popular_favourite"})
_NEUTRAL = Reason("popular")


@dataclass(frozen=True)
class FeedbackEffects:
    rejected_categories: frozenset[str] = frozenset()
    bad_hours: frozenset[int] = frozenset()  # local hours of day to avoid, spread included

    def hour_weights(self, penalty: float) -> np.ndarray | None:
        """A 24-hour multiplier of send propensity (None when no hour is to be avoided)."""
        if not self.bad_hours:
            return None
        w = np.ones(24)
        w[sorted(self.bad_hours)] = penalty
        return w


def feedback_effects(
    rows: Iterable[FeedbackRow],
    pushes: Sequence[tuple[str, float]],
    now: datetime,
    zone: ZoneInfo,
    categories: Callable[[set[str]], dict[str, str]],
    config: FeedbackConfig,
) -> FeedbackEffects:
    """The effects in force at ``now`` of a user's feedback ``rows`` (``pushes``: ``(item_id, ts)`` of
    the pushes delivered to them; ``categories``: item id to category, for the ids it is given)."""
    t = now.timestamp()
    rejected_items: set[str] = set()
    bad_hours: set[int] = set()
    for ts, item_id, payload in rows:
        read = read_payload(payload)
        if read is None or ts > t:
            continue
        if "not_relevant" in read.reasons and item_id and ts >= t - config.not_relevant_days * 86400.0:
            rejected_items.add(item_id)
        if "bad_time" in read.reasons and ts >= t - config.bad_time_days * 86400.0:
            hour = datetime.fromtimestamp(_rejected_push_ts(ts, item_id, pushes, config), UTC).astimezone(zone).hour
            bad_hours.update((hour + d) % 24 for d in range(-config.bad_time_spread, config.bad_time_spread + 1))
    cats = categories(rejected_items) if rejected_items else {}
    return FeedbackEffects(frozenset(c for c in cats.values() if c), frozenset(bad_hours))


def _rejected_push_ts(
    ts: float, item_id: str | None, pushes: Sequence[tuple[str, float]], config: FeedbackConfig
) -> float:
    """When the push the feedback is about arrived: the last push of its item shortly before it."""
    since = ts - config.bad_time_lookback_hours * 3600.0
    times = [at for i, at in pushes if item_id and i == item_id and since <= at <= ts]
    return max(times, default=ts)


def down_weighted(cands: Sequence[Candidate], effects: FeedbackEffects, penalty: float) -> list[Candidate]:
    """``cands`` with those in a rejected category scored ``penalty`` times lower (a negative score
    ``1/penalty`` times lower), re-sorted, and without a reason claiming the user likes that category."""
    if not effects.rejected_categories:
        return list(cands)
    out = []
    for c in cands:
        if c.category in effects.rejected_categories:
            score = c.score * penalty if c.score >= 0 else c.score / max(penalty, 1e-9)
            c = dataclasses.replace(c, score=score)
            if c.why is not None and c.why.kind in _CATEGORY_CLAIMS:
                c = dataclasses.replace(c, why=_NEUTRAL, reason=_NEUTRAL.text())
        out.append(c)
    return sorted(out, key=lambda c: -c.score)  # stable: equal scores keep the model's order
