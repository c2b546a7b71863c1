"""The item link the copywriter is given comes from ``engine.item_url_template``, on every path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from artifact_helpers import serving_engine

from recsvc.copy.types import CopyRequest, Message
from recsvc.engine.engine import Engine
from recsvc.engine.types import RecommendQuery

TEMPLATE = "https://example.test/p/{item_id}?ref=push"


@pytest.fixture(scope="module")
def engine(trained_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("item-url")
    eng = serving_engine(trained_models, str(root / "recsvc.db"), engine={"item_url_template": TEMPLATE})
    yield eng
    eng.close()


@pytest.fixture
def copy_requests(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[CopyRequest]:
    """What the copywriter is asked to write (it answers with its template, never calling an LLM)."""
    seen: list[CopyRequest] = []
    template = engine.copywriter.template

    def record(req: CopyRequest, **_: object) -> Message:
        seen.append(req)
        return template(req)

    monkeypatch.setattr(engine.copywriter, "write", record)
    monkeypatch.setattr(engine.copywriter, "write_now", record)
    monkeypatch.setattr(engine.copywriter, "template", record)
    return seen


def test_generated_message_links_the_item_by_the_template(engine: Engine, copy_requests: list[CopyRequest]) -> None:
    engine.template_message("url-user", "tea-1", "app_push")
    engine.generate_message("url-user", "tea-1", "email", trigger="scheduled", locale="", offer="", deadline_s=None)
    assert [r.item_url for r in copy_requests] == ["https://example.test/p/tea-1?ref=push"] * 2


def test_recommended_messages_link_their_items_by_the_template(
    engine: Engine, copy_requests: list[CopyRequest]
) -> None:
    q = RecommendQuery(user_id="url-user", now=datetime.now(UTC), max_candidates=3, write_copy=True)
    shown = [c.item.item_id for c in engine.recommend(q).candidates]
    assert shown, "the demo models recommend nothing to a new user"
    assert [r.item_id for r in copy_requests] == shown
    assert [r.item_url for r in copy_requests] == [TEMPLATE.format(item_id=i) for i in shown]
