"""The rows of ``recsvc score`` and ``recsvc campaign``: engine answers flattened into table columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recsvc.batch.segment import Segment
from recsvc.engine.engine import Engine
from recsvc.engine.types import CandidateView, LifecycleView, RecommendQuery, RecommendResult, SendTimeView

TOP_REASONS = 3
SCORE_COLUMNS = (
    "user_id", "known", "current_stage", "predicted_stage", "churn_risk", "horizon_days",
    *(f"churn_reason_{i}" for i in range(1, TOP_REASONS + 1)),
    "tier", "send_at", "send_local_hour", "send_timezone", "send_confidence", "as_of",
)  # fmt: skip
CAMPAIGN_COLUMNS = (
    "user_id", "rank", "item_id", "item_title", "score", "source", "reason",
    "channel", "channel_reason", "priority", "dedupe_key", "expires_at",
    "send_at", "send_window_start", "send_window_end", "send_local_hour", "send_timezone", "send_confidence",
    "message_title", "message_body", "message_cta", "message_locale", "writer", "variant", "guardrail_failed",
    "stage", "churn_risk", "tier", "suppressed", "suppressed_detail", "trigger", "campaign_id",
    "experiment", "arm", "as_of",
)  # fmt: skip


def score_rows(engine: Engine, user_ids: Sequence[str], as_of: datetime) -> list[dict[str, Any]]:
    """What ``ScoreUsers`` answers for these users at ``as_of``, and each one's best scheduled send slot."""
    views, _ = engine.score_users(user_ids, as_of)
    out = []
    for v in views:
        lc = v.lifecycle
        reasons = [r.text for r in lc.churn_reasons[:TOP_REASONS]]
        reasons += [""] * (TOP_REASONS - len(reasons))
        row: dict[str, Any] = {
            "user_id": v.user_id,
            "known": v.known,
            **_lifecycle_columns(lc),
            "horizon_days": lc.horizon_days,
            **{f"churn_reason_{i + 1}": r for i, r in enumerate(reasons)},
            "tier": v.tier,
            **_slot_columns(engine.best_send(v.user_id, as_of), with_window=False),
            "as_of": as_of,
        }
        out.append(row)
    return out


@dataclass(frozen=True)
class CampaignPlan:
    segment: Segment
    trigger: str
    channels: tuple[str, ...]
    max_candidates: int
    write_copy: bool
    reserve: bool
    campaign_id: str
    experiment: str = ""  # the one experiment the run is under ('' : every declared one)


def campaign_rows(engine: Engine, user_ids: Sequence[str], as_of: datetime, plan: CampaignPlan) -> list[dict[str, Any]]:
    """One row per candidate of each user in the segment: the ``Recommend`` answer at ``as_of``."""
    queries = [
        RecommendQuery(
            user_id=uid,
            now=as_of,
            trigger=plan.trigger,
            campaign_id=plan.campaign_id,
            allowed_channels=plan.channels,
            max_candidates=plan.max_candidates,
            write_copy=plan.write_copy,
            reserve=plan.reserve,
        )
        for uid in user_ids
    ]

    def in_segment(user: dict[str, Any], lifecycle: LifecycleView, tier: str) -> bool:
        facts = {**_lifecycle_columns(lifecycle), "tier": tier, "city": user.get("city"), "locale": user.get("locale")}
        facts["stage"] = facts.pop("current_stage")
        return plan.segment.holds(facts)

    # ranked together: the same answers as one recommend() per user, for less work per user
    results = engine.recommend_many(queries, in_segment)
    return [row for result in results if result is not None for row in candidate_rows(result, plan, as_of)]


def candidate_rows(result: RecommendResult, plan: CampaignPlan, as_of: datetime) -> list[dict[str, Any]]:
    sup = result.suppression
    common = {
        "stage": result.lifecycle.current_stage,
        "churn_risk": result.lifecycle.churn_risk,
        "tier": result.tier,
        "suppressed": sup.reason if sup else "",
        "suppressed_detail": sup.detail if sup else "",
        "trigger": plan.trigger,
        "campaign_id": plan.campaign_id,
        "experiment": result.experiment_id,
        "arm": result.arm,
        "as_of": as_of,
    }
    return [{"user_id": result.user_id, **_candidate_columns(c), **common} for c in result.candidates]


def _candidate_columns(c: CandidateView) -> dict[str, Any]:
    m = c.message
    return {
        "rank": c.rank,
        "item_id": c.item.item_id,
        "item_title": c.item.title,
        "score": c.score,
        "source": c.source,
        "reason": c.reason,
        "channel": c.channel,
        "channel_reason": c.channel_reason,
        "priority": c.priority,
        "dedupe_key": c.dedupe_key,
        "expires_at": c.expires_at,
        **_slot_columns(c.send_time, with_window=True),
        "message_title": m.title if m else "",
        "message_body": m.body if m else "",
        "message_cta": m.cta if m else "",
        "message_locale": m.locale if m else "",
        "writer": m.writer if m else "",
        "variant": m.variant if m else "",
        "guardrail_failed": m.guardrail_failed if m else "",
    }


def _lifecycle_columns(lc: LifecycleView) -> dict[str, Any]:
    return {"current_stage": lc.current_stage, "predicted_stage": lc.predicted_stage, "churn_risk": lc.churn_risk}


def _slot_columns(slot: SendTimeView | None, *, with_window: bool) -> dict[str, Any]:
    cols: dict[str, Any] = {
        "send_at": slot.send_at if slot else None,
        "send_local_hour": slot.local_hour if slot else -1,
        "send_timezone": slot.timezone if slot else "",
        "send_confidence": slot.confidence if slot else 0.0,
    }
    if with_window:
        cols["send_window_start"] = slot.window_start if slot else None
        cols["send_window_end"] = slot.window_end if slot else None
    return cols
