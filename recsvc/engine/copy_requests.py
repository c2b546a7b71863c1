"""What the copywriter is told about a message: the user, and either a ranked candidate (Recommend,
already in the reader's words) or a catalog row (GenerateMessage, titled here in the reader's
locale). Only these facts may appear in the copy."""

from __future__ import annotations

from typing import Any

from recsvc.catalog_text import item_text
from recsvc.copy.types import CopyRequest
from recsvc.engine.pipeline import Audience
from recsvc.engine.types import RecommendQuery
from recsvc.recs.serving import Candidate
from recsvc.vocabulary import DEFAULT_LOCALE


def for_candidate(
    q: RecommendQuery,
    user: dict[str, Any],
    audience: Audience,
    c: Candidate,
    *,
    stage: str,
    channel: str,
    item_url: str,
) -> CopyRequest:
    return CopyRequest(
        user_id=q.user_id,
        first_name=str(user.get("first_name") or ""),
        locale=audience.locale,
        stage=stage,
        trigger=q.trigger,
        channel=channel,
        item_id=c.item_id,
        item_title=c.title,
        price=float(c.price) if c.price and c.price == c.price else None,  # no price for 0 and NaN
        currency=c.currency or "",
        city=audience.city,
        reason=c.reason,
        item_url=item_url,
        image_url=c.image_url or "",
        video_url=c.video_url or "",
        audio_url=c.audio_url or "",
    )


def for_catalog_item(
    user_id: str,
    user: dict[str, Any],
    item_id: str,
    row: dict[str, Any],
    *,
    stage: str,
    trigger: str,
    channel: str,
    locale: str,
    offer: str,
    item_url: str,
) -> CopyRequest:
    loc = locale or str(user.get("locale") or "") or DEFAULT_LOCALE
    return CopyRequest(
        user_id=user_id,
        first_name=str(user.get("first_name") or ""),
        locale=loc,
        stage=stage,
        trigger=trigger,
        channel=channel,
        item_id=item_id,
        item_title=item_text(row, loc).title,
        price=row["price"],
        currency=row["currency"],
        offer=offer or None,
        city=str(user.get("city") or ""),
        reason="picked for you",
        item_url=item_url,
        image_url=row["image_url"],
        video_url=row["video_url"],
        audio_url=row["audio_url"],
    )
