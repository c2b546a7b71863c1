"""The engine's assistant replies: their guard knows every name of every catalog item, and an English
reply names items by the catalog's English title whatever title the candidates carry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from recsvc.copy.assistant import template_reply
from recsvc.copy.llm import LLMResult, Prompt
from recsvc.engine.engine import Engine
from recsvc.engine.types import CandidateView, ItemView, RecommendQuery
from recsvc.settings import load_settings

ITEMS = pd.DataFrame(
    [
        {"item_id": "i1", "title": "Bamboo Classic Eye Cream, Travel Size", "title_zh": "竹语经典眼霜 旅行装"},
        {"item_id": "i2", "title": "Kiwi Eco Air Fryer, 3L", "title_zh": "奇异环保空气炸锅 3升"},
    ]
).assign(price=[86.9, 46.9], currency="CNY", category=["beauty", "kitchen"], in_stock=True)


class OneReply:
    """An LLM that streams one fixed reply."""

    model = "one-reply"

    def __init__(self, text: str) -> None:
        self.text = text

    def complete(self, prompt: Prompt, **_: Any) -> LLMResult:
        return LLMResult(self.text, 10, 10)

    def stream(self, prompt: Prompt, *, max_tokens: int, timeout_s: float, **_: Any) -> Iterator[str]:
        yield from (self.text[i : i + 5] for i in range(0, len(self.text), 5))


def _engine(tmp_path: Path, reply: str) -> Engine:
    settings = load_settings(env={}).with_overrides(
        paths={"store": str(tmp_path / "db.sqlite"), "models_dir": str(tmp_path / "models")}
    )
    eng = Engine(settings, encoder=object(), llm=OneReply(reply))  # type: ignore[arg-type]
    eng.store.upsert_items(ITEMS)
    eng.store.upsert_users(pd.DataFrame([{"user_id": "u1", "locale": "zh-CN"}]))
    eng._refresh_titles()  # what loading models does
    return eng


def _retrieves(eng: Engine, monkeypatch: pytest.MonkeyPatch, title: str, queries: list[RecommendQuery]) -> None:
    """The engine's ranking returns item i1, carrying ``title``; each query it is asked is kept."""
    view = CandidateView(
        item=ItemView(item_id="i1", title=title, price=86.9, currency="CNY"),
        score=1.0, source="embedding", reason="", channel="app_push", channel_reason="", message=None,
        send_time=None, priority=1, expires_at=datetime.now(UTC), dedupe_key="k", rank=1,
    )  # fmt: skip

    def recommend(q: RecommendQuery, **_: object) -> SimpleNamespace:
        queries.append(q)
        return SimpleNamespace(candidates=(view,))

    monkeypatch.setattr(eng, "recommend", recommend)


def _reply(eng: Engine, turns: Sequence[tuple[str, str]]) -> str:
    return "".join(c.text for c in eng.assistant_reply("u1", turns, max_items=3, locale=""))


def test_a_chinese_reply_naming_an_item_it_was_not_given_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = _engine(tmp_path, "推荐奇异环保空气炸锅，做饭很方便。")
    queries: list[RecommendQuery] = []
    _retrieves(eng, monkeypatch, "Bamboo Classic Eye Cream, Travel Size", queries)
    try:
        out = _reply(eng, [("user", "有什么好用的护肤品？")])
        assert "空气炸锅" not in out and "Bamboo Classic Eye Cream, Travel Size" in out
        assert queries[0].query == "有什么好用的护肤品？" and queries[0].locale == "zh-CN"
    finally:
        eng.close()


def test_an_english_reply_uses_the_catalog_title(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = _engine(tmp_path, "The 竹语经典眼霜 旅行装 is lovely.")
    queries: list[RecommendQuery] = []
    _retrieves(eng, monkeypatch, "竹语经典眼霜 旅行装", queries)  # a candidate titled in the profile's language
    try:
        out = _reply(eng, [("user", "eye cream"), ("assistant", "Here you go."), ("user", "cheaper ones?")])
        item = {"title": "Bamboo Classic Eye Cream, Travel Size", "price": 86.9, "currency": "CNY"}
        assert out == template_reply([item], "en-US")
        assert queries[0].query == "eye cream cheaper ones?" and queries[0].locale == "en-US"
    finally:
        eng.close()
