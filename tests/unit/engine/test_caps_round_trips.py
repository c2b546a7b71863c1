"""On PostgreSQL a ``Recommend`` reads the user's row, history signature, opt-outs and cap verdict's
facts in one round trip (each round trip costs about 0.15-0.3 ms of the request's latency)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from artifact_helpers import serving_engine

from recsvc.engine.engine import Engine
from recsvc.engine.types import RecommendQuery
from recsvc.frequency.caps import Reservation
from recsvc.vocabulary import EngagementTier

# Statements that read the caps ledger's tables (the events table's feedback rows are another matter).
_CAPS_READ = re.compile(r"\bFROM\s+(unsubscribes|sends|feedback)\b", re.IGNORECASE)


@pytest.fixture
def engine(trained_models: Path, pg_url: str) -> Iterator[Engine]:
    eng = serving_engine(trained_models, pg_url)
    yield eng
    eng.close()


def _caps_reads(engine: Engine, statements: list[str], q: RecommendQuery) -> tuple[str | None, list[str]]:
    statements.clear()
    result = engine.recommend(q)
    assert result.candidates, "the demo models recommend nothing to a new user"
    return (result.suppression.reason if result.suppression else None), [s for s in statements if _CAPS_READ.search(s)]


def test_a_recommend_reads_opt_outs_and_cap_facts_in_one_round_trip(engine: Engine, statements: list[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    q = RecommendQuery(user_id="rt-user", now=now, max_candidates=3, write_copy=False)
    tier = EngagementTier[engine.recommend(q).tier.upper()]  # also the first call's one-off reads

    reason, reads = _caps_reads(engine, statements, q)
    assert reason is None and len(reads) == 1, reads  # a channel was chosen and judged: allowed

    for i in range(engine.settings.frequency.daily_cap(tier)):
        booked = engine.caps.reserve("rt-user", "in_app", tier, now - timedelta(hours=i + 1), dedupe_key=f"rt-{i}")
        assert isinstance(booked, Reservation)
    reason, reads = _caps_reads(engine, statements, q)
    assert reason == "frequency_cap" and len(reads) == 1, reads

    engine.caps.unsubscribe("rt-user", "*", now - timedelta(minutes=1))
    reason, reads = _caps_reads(engine, statements, q)
    assert reason == "opted_out" and len(reads) == 1, reads


def test_a_recommend_for_a_known_user_is_one_round_trip(engine: Engine, statements: list[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    engine.upsert_users([{"user_id": "rt-known", "timezone": "Asia/Shanghai", "locale": "zh-CN", "push_opt_in": 1}])
    item = engine.sample_item()
    view = {"user_id": "rt-known", "item_id": item, "event_type": "view", "ts": (now - timedelta(hours=2)).timestamp()}
    assert not engine.report_events([(view, "", "")], ["rt-v1"]).rejections
    q = RecommendQuery(user_id="rt-known", now=now, max_candidates=3, write_copy=False)
    first = engine.recommend(q)  # reads the new history once
    statements.clear()
    again = engine.recommend(q)
    assert len(statements) == 1, statements
    assert [c.item.item_id for c in again.candidates] == [c.item.item_id for c in first.candidates]
    assert again.lifecycle == first.lifecycle and not again.new_user
