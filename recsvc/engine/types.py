"""Plain domain values that cross the boundary between the engine and the API layer.

The gRPC layer converts protobuf messages to and from these; the engine never sees ``*_pb2``.
Enumerations are words from the tuples of :mod:`recsvc.vocabulary`, which the converter maps to
the proto enums, so adding a transport (CLI, MCP) needs no protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RecommendQuery:
    user_id: str
    now: datetime
    trigger: str = "scheduled"
    city: str = ""
    lat: float | None = None
    lon: float | None = None
    locale: str = ""
    query: str = ""
    cart_item_ids: tuple[str, ...] = ()
    campaign_id: str = ""
    allowed_channels: tuple[str, ...] = ()
    max_candidates: int = 5
    write_copy: bool = True
    reserve: bool = False


@dataclass(frozen=True)
class ReasonView:
    feature: str
    text: str
    contribution: float


@dataclass(frozen=True)
class LifecycleView:
    current_stage: str
    predicted_stage: str
    stage_probs: dict[str, float]
    churn_risk: float
    horizon_days: int
    churn_reasons: tuple[ReasonView, ...] = ()
    stage_reasons: tuple[ReasonView, ...] = ()


@dataclass(frozen=True)
class ItemView:
    item_id: str
    title: str
    description: str = ""
    category: str = ""
    price: float = 0.0
    currency: str = ""
    image_url: str = ""
    video_url: str = ""
    audio_url: str = ""
    in_stock: bool = True
    cities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageView:
    title: str
    body: str
    cta: str
    media_url: str
    media_type: str  # image | video | audio | ''
    locale: str
    writer: str  # llm | template
    variant: str
    guardrail_failed: str
    model: str


@dataclass(frozen=True)
class SendTimeView:
    send_at: datetime
    confidence: float
    window_start: datetime
    window_end: datetime
    local_hour: int
    timezone: str


@dataclass(frozen=True)
class CandidateView:
    item: ItemView
    score: float
    source: str
    reason: str
    channel: str
    channel_reason: str
    message: MessageView | None
    send_time: SendTimeView | None
    priority: int
    expires_at: datetime
    dedupe_key: str
    rank: int


@dataclass(frozen=True)
class SuppressionView:
    reason: str
    detail: str
    retry_after: datetime | None = None


@dataclass(frozen=True)
class RecommendResult:
    user_id: str
    new_user: bool
    lifecycle: LifecycleView
    tier: str
    candidates: tuple[CandidateView, ...]
    suppression: SuppressionView | None
    versions: dict[str, str]
    request_id: str
    send_curve: tuple[tuple[datetime, float], ...] = ()
    experiment_id: str = ""  # the experiment and arm the user was in for this decision ('' : none)
    arm: str = ""


@dataclass(frozen=True)
class UserScoreView:
    user_id: str
    lifecycle: LifecycleView
    tier: str
    known: bool


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str
    field: str
    reason: str


@dataclass(frozen=True)
class ReportResult:
    accepted: int
    duplicate: int
    rejections: tuple[Rejection, ...]


@dataclass(frozen=True)
class ProfileView:
    user: dict[str, object]
    known: bool
    lifecycle: LifecycleView
    tier: str
    event_count: int
    last_event_at: datetime | None
    recent_item_ids: tuple[str, ...]
    recent_items: tuple[ItemView, ...]  # those still in the catalog, in the reader's locale
    top_categories: tuple[str, ...]
    sends_last_7d: int
    unsubscribed: tuple[str, ...]
    versions: dict[str, str]


@dataclass(frozen=True)
class ReplyChunk:
    text: str = ""
    items: tuple[CandidateView, ...] = ()
    done: bool = False
    writer: str = ""
