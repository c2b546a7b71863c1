"""Effects of feedback reasons, read from the stored events of each store backend: the rejected
category and the bad hours, which hold after a restart and expire after their period; how they
change ranking (score and reason) and the send slot; and the survey's sample and cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from recsvc.engine.history import DigestCache
from recsvc.errors import InvalidArgument
from recsvc.feedback.config import FeedbackConfig
from recsvc.feedback.effects import FeedbackEffects, down_weighted, feedback_effects
from recsvc.feedback.survey import SURVEY_KEY_PREFIX, in_survey_sample, survey_due, survey_key
from recsvc.frequency import open_ledger
from recsvc.frequency.caps import Reservation
from recsvc.recs.reasons import Reason
from recsvc.recs.serving import Candidate
from recsvc.settings import EngineConfig, load_settings
from recsvc.store import EventStore, open_store
from recsvc.timing.clock import QuietHours
from recsvc.timing.slots import choose_slot
from recsvc.vocabulary import EngagementTier

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 20:00 in Shanghai: when the push the user calls a bad time arrived.
PUSHED = datetime(2024, 6, 3, 20, 0, tzinfo=SHANGHAI).astimezone(UTC)
NOW = PUSHED + timedelta(days=1)
CONFIG = FeedbackConfig()


def _event(
    eid: str, etype: str, at: datetime, item: str, payload: dict[str, object] | None = None
) -> dict[str, object]:
    return {
        "event_id": eid,
        "user_id": "u",
        "ts": at.timestamp(),
        "event_type": etype,
        "item_id": item,
        "payload": json.dumps(payload) if payload is not None else None,
    }


def _effects(store: EventStore, now: datetime) -> FeedbackEffects:
    digest = DigestCache(store, EngineConfig).get("u")

    def categories(ids: set[str]) -> dict[str, str]:
        return {i: str(r.get("category") or "") for i, r in store.items_by_id(ids).items()}

    return feedback_effects(digest.feedback, digest.pushes, now, SHANGHAI, categories, CONFIG)


def test_effects_come_from_stored_events_on_every_handle_and_expire(store_location: str) -> None:
    store = open_store(store_location)
    store.upsert_items(
        pd.DataFrame([{"item_id": "shoe", "title": "Shoe", "category": "shoes"}, {"item_id": "tea", "title": "Tea"}])
    )
    store.add_events(
        [
            _event("p1", "push_delivered", PUSHED, "tea"),
            # Answered three hours later: the bad time is when the push came, not when the user answered.
            _event("f1", "feedback", PUSHED + timedelta(hours=3), "tea", {"reasons": ["bad_time"]}),
            _event("f2", "feedback", PUSHED + timedelta(hours=4), "shoe", {"rating": 1, "reasons": ["not_relevant"]}),
            _event("f3", "feedback", PUSHED + timedelta(hours=5), "tea", {"rating": 5}),
        ]
    )
    effects = _effects(store, NOW)
    assert effects.rejected_categories == {"shoes"}
    assert effects.bad_hours == {19, 20, 21}
    store.close()
    restarted = open_store(store_location)
    assert _effects(restarted, NOW) == effects
    assert _effects(restarted, PUSHED) == FeedbackEffects()  # nothing said yet at that time
    assert _effects(restarted, NOW + timedelta(days=CONFIG.not_relevant_days + 1)) == FeedbackEffects()
    restarted.close()


def _cand(item: str, category: str, score: float, why: Reason) -> Candidate:
    return Candidate(item, item, 1.0, "USD", category, "", "", "", score, "embedding", why.text(), why=why)


def test_rejected_category_scores_lower_and_its_reason_claims_no_liking() -> None:
    cands = [
        _cand("s1", "shoes", 0.9, Reason("popular_category", "shoes")),
        _cand("s2", "shoes", 0.8, Reason("cart")),
        _cand("t1", "tea", 0.5, Reason("similar")),
        _cand("s3", "shoes", -0.1, Reason("similar")),
        _cand("t2", "tea", -0.2, Reason("popular")),
    ]
    out = down_weighted(cands, FeedbackEffects(rejected_categories=frozenset({"shoes"})), 0.2)
    assert [c.item_id for c in out] == ["t1", "s1", "s2", "t2", "s3"]
    by_id = {c.item_id: c for c in out}
    assert by_id["s1"].score == pytest.approx(0.18) and by_id["s3"].score == pytest.approx(-0.5)
    assert by_id["s1"].reason == "popular right now" and by_id["s3"].why == Reason("popular")
    assert by_id["s2"].reason == "in your cart"  # a fact, not a claim of liking: kept
    assert by_id["t1"].reason == "similar to what you like"
    assert down_weighted(cands, FeedbackEffects(), 0.2) == cands


def test_bad_hours_move_the_send_slot() -> None:
    week = np.full(168, 0.1)
    week[[d * 24 + 20 for d in range(7)]] = 1.0  # the user's peak: 20:00
    week[[d * 24 + 9 for d in range(7)]] = 0.5  # the runner-up: 09:00
    start = datetime(2024, 6, 4, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    kwargs = dict(start=start, end=start + timedelta(hours=24), zone=SHANGHAI, quiet=QuietHours.parse("23-7"))
    plain = choose_slot("u", week, np.ones(24), 1.0, on_all_quiet="defer", **kwargs)  # type: ignore[arg-type]
    weights = FeedbackEffects(bad_hours=frozenset({19, 20, 21})).hour_weights(CONFIG.bad_time_penalty)
    moved = choose_slot("u", week, weights, 1.0, on_all_quiet="defer", **kwargs)  # type: ignore[arg-type]
    assert plain is not None and plain.local_hour == 20
    assert moved is not None and moved.local_hour == 9
    assert FeedbackEffects().hour_weights(0.1) is None


def test_survey_sample_is_a_stable_share_of_users() -> None:
    cfg = FeedbackConfig(survey_share=0.1)
    chosen = [u for u in (f"user-{i}" for i in range(20_000)) if in_survey_sample(u, cfg)]
    assert 0.09 < len(chosen) / 20_000 < 0.11
    assert chosen == [u for u in chosen if in_survey_sample(u, cfg)]
    assert not in_survey_sample("user-1", FeedbackConfig(survey_share=0.0))


def test_survey_cap_counts_surveys_booked_on_either_store(store_location: str) -> None:
    cfg = FeedbackConfig(survey_share=1.0, survey_every_days=30.0)
    store = open_store(store_location)
    ledger = open_ledger(store)
    since = NOW - timedelta(days=cfg.survey_every_days)
    assert survey_due("u", NOW, [], ledger.booked_since("u", since, SURVEY_KEY_PREFIX), cfg)
    ledger.reserve("u", "app_push", EngagementTier.HIGH, NOW - timedelta(days=40), dedupe_key="item-push")
    old = ledger.reserve(
        "u", "app_push", EngagementTier.HIGH, NOW - timedelta(days=31), dedupe_key=survey_key("u", "app_push", "", NOW)
    )
    assert isinstance(old, Reservation) and not ledger.booked_since("u", since, SURVEY_KEY_PREFIX)
    ledger.reserve(
        "u", "app_push", EngagementTier.HIGH, NOW - timedelta(days=3), dedupe_key=survey_key("u", "x", "", NOW)
    )
    other = open_ledger(open_store(store_location))  # another process sees the same booking
    surveyed = other.booked_since("u", since, SURVEY_KEY_PREFIX)
    assert surveyed and not survey_due("u", NOW, [], surveyed, cfg)
    # Feedback given lately also waits the survey out.
    assert not survey_due("u", NOW, [(NOW - timedelta(days=1)).timestamp()], False, cfg)
    store.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [("survey_share", 1.5), ("not_relevant_penalty", -0.1), ("bad_time_days", 0.0), ("bad_time_spread", 12)],
)
def test_bad_feedback_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        load_settings(env={f"RECSVC_FEEDBACK_{field.upper()}": str(value)})
    assert err.value.field == f"feedback.{field}"
