"""Copywriter flow: cache, background writes within a budget, guardrail retry and template fallbacks.

The LLM here is a scripted ``LLMClient`` (its replies are the adversarial inputs under test) or a
real OpenAI client pointed at a closed port / a socket that never answers; the real model is
exercised in ``tests/integration/test_local_llm.py``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from recsvc.copy import build_copywriter
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields
from recsvc.copy.llm import OpenAILLM
from recsvc.copy.types import CopyRequest
from recsvc.copy.writer import Copywriter, fill_slots
from recsvc.errors import InvalidArgument

# The ScriptedLLM class from conftest.py (a fixture, so no import of conftest).
Scripted = Callable[..., Any]
REQ = CopyRequest(
    user_id="u1",
    first_name="Mia",
    locale="en-US",
    stage="purchase",
    trigger="cart_idle",
    channel="app_push",
    item_id="i1",
    item_title="Trail Running Shoes",
    price=89.0,
    currency="USD",
    offer="10% off",
    image_url="https://cdn.example.com/i1.jpg",
)
GOOD = " Still thinking, {name}?\nBody: Trail Running Shoes are waiting: 10% off, limited time.\nCTA: Buy now\n"
WRONG_PRICE = " Still thinking, {name}?\nBody: Trail Running Shoes, now only $49!\nCTA: Buy now\n"


def test_cache_miss_answers_template_then_llm_copy_is_cached(scripted_llm: Scripted) -> None:
    llm = scripted_llm([GOOD], delay_s=0.3)
    with Copywriter(CopyConfig(writer="full", copy_budget_ms=20), llm) as w:
        first = w.write(REQ)
        assert first.writer == "template" and first.fallback_reason == "budget"
        assert first.media_type == "image" and first.media_url == REQ.image_url
        deadline = time.monotonic() + 5
        while w.metrics().get("cache_size", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        second = w.write(REQ)
        assert second.writer == "llm" and second.cached
        assert second.title == "Still thinking, Mia?"
        # Another user shares the cached variant with their own name; no second LLM call.
        other = w.write(CopyRequest(**{**REQ.__dict__, "user_id": "u2", "first_name": "Leo"}))
        assert other.title == "Still thinking, Leo?" and llm.calls == 1
        m = w.metrics()
        assert m["cache_hits"] == 2 and m["cache_misses"] == 1
        assert m["prompt_tokens"] == 100 and m["completion_tokens"] == 20
        assert m["write_llm_p50_ms"] >= 0 and m["write_template_p99_ms"] >= 0


def test_fast_llm_answers_within_budget(scripted_llm: Scripted) -> None:
    with Copywriter(CopyConfig(writer="full", copy_budget_ms=2000), scripted_llm([GOOD])) as w:
        msg = w.write(REQ)
    assert msg.writer == "llm" and not msg.cached and msg.guardrail_failed == ""


def test_guardrail_failure_retries_once_then_template_says_which_rule(
    scripted_llm: Scripted,
) -> None:
    llm = scripted_llm([WRONG_PRICE, WRONG_PRICE])
    with Copywriter(CopyConfig(writer="full"), llm) as w:
        msg = w.write_now(REQ, timeout_s=5)
        assert msg.writer == "template" and msg.guardrail_failed == "number"
        assert llm.calls == 2  # first try + one retry
        assert w.metrics()["guardrail_failed_number"] == 2
        # The failure is remembered: the next write serves the template without calling the LLM.
        again = w.write(REQ)
        assert again.writer == "template" and again.guardrail_failed == "number" and llm.calls == 2


def test_retry_can_succeed(scripted_llm: Scripted) -> None:
    llm = scripted_llm([WRONG_PRICE, GOOD])
    with Copywriter(CopyConfig(writer="full"), llm) as w:
        msg = w.write_now(REQ, timeout_s=5)
    assert msg.writer == "llm" and llm.calls == 2


def test_unparseable_output_is_a_parse_failure(scripted_llm: Scripted) -> None:
    with Copywriter(
        CopyConfig(writer="full", max_retries=0), scripted_llm(["I am a professional photographer who"])
    ) as w:
        msg = w.write_now(REQ, timeout_s=5)
    assert msg.writer == "template" and msg.guardrail_failed == "parse"


def test_per_user_mode_writes_per_user_with_real_name(scripted_llm: Scripted) -> None:
    llm = scripted_llm([" Mia, still thinking?\nBody: Trail Running Shoes: 10% off today.\nCTA: Buy now\n"])
    with Copywriter(CopyConfig(writer="full", per_user=True), llm) as w:
        a = w.write_now(REQ, timeout_s=5)
        w.write_now(CopyRequest(**{**REQ.__dict__, "user_id": "u2"}), timeout_s=5)
    assert a.writer == "llm" and llm.calls == 2
    assert "Mia" in str(llm.prompts[0]) and "{name}" not in str(llm.prompts[0])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_down_returns_template_within_budget() -> None:
    cfg = CopyConfig(writer="full", base_url=f"http://127.0.0.1:{_closed_port()}/v1", copy_budget_ms=300)
    with Copywriter(cfg, OpenAILLM(cfg)) as w:
        msg = w.write(REQ)
        assert msg.writer == "template" and msg.fallback_reason in ("unavailable", "budget")
        now = w.write_now(REQ, timeout_s=2)
        assert now.writer == "template" and now.fallback_reason in ("unavailable", "backoff")


def test_endpoint_hanging_times_out_with_template() -> None:
    """A server that accepts but never answers: write() keeps its budget, write_now its timeout."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        cfg = CopyConfig(writer="full", base_url=f"http://127.0.0.1:{srv.getsockname()[1]}/v1", timeout_s=1.0)
        with Copywriter(cfg, OpenAILLM(cfg)) as w:
            # The reasons prove the bounds: "budget" is given only when the budget ran out first.
            msg = w.write(REQ, budget_s=0.2)
            assert msg.writer == "template" and msg.fallback_reason == "budget"
            now = w.write_now(CopyRequest(**{**REQ.__dict__, "channel": "email"}), timeout_s=0.5)
            # The HTTP timeout and the caller's wait end together: either names the fallback.
            assert now.writer == "template" and now.fallback_reason in ("unavailable", "deadline")
    finally:
        srv.close()


def test_warm_fills_cache_once_per_variant(scripted_llm: Scripted) -> None:
    llm = scripted_llm([GOOD])
    reqs = [CopyRequest(**{**REQ.__dict__, "user_id": f"u{i}", "first_name": f"N{i}"}) for i in range(20)]
    with Copywriter(CopyConfig(writer="full"), llm) as w:
        stats = w.warm(reqs, progress=False)
        assert stats["unique"] == 1 and stats["written"] == 1 and llm.calls == 1
        assert all(w.write(r).writer == "llm" for r in reqs)


def test_no_llm_means_templates_and_invalid_requests_are_refused() -> None:
    with Copywriter(CopyConfig(writer="full")) as w:
        assert w.write(REQ).writer == "template"
        with pytest.raises(InvalidArgument):
            w.write(CopyRequest(user_id="u", stage="sleeping", item_title="x"))


def test_fill_slots_without_a_name_drops_the_slot() -> None:
    f = Fields("Welcome, {name}!", "{name}, see the Trail Running Shoes.", "Go")
    assert fill_slots(f, "", "", "en-US") == Fields("Welcome!", "See the Trail Running Shoes.", "Go")
    assert fill_slots(f, "Ava", "", "en-US").title == "Welcome, Ava!"
    assert fill_slots(Fields("{name}，欢迎你！", "好物", ""), "", "", "zh-CN").title == "欢迎你！"


def test_config_validate_names_bad_field() -> None:
    for bad, field in (
        (CopyConfig(writer="full", mode="poetry"), "mode"),
        (CopyConfig(writer="full", push_title_max=3), "push_title_max"),
        (CopyConfig(writer="full", base_url="ftp://x"), "base_url"),
        (CopyConfig(writer="full", max_concurrency=0), "max_concurrency"),
        (CopyConfig(writer="full", local_port=70000), "local_port"),
    ):
        with pytest.raises(InvalidArgument) as exc:
            bad.validate()
        assert exc.value.field == field
    assert CopyConfig(writer="full").validate().threads() >= 1


def test_copying_a_few_shot_example_product_is_an_invented_item(scripted_llm: Scripted) -> None:
    echo = " Picked for you, {name}\nBody: A new pick for you: the Wool Beanie, 10% off.\nCTA: See\n"
    with Copywriter(CopyConfig(writer="full", max_retries=0), scripted_llm([echo])) as w:
        msg = w.write_now(REQ, timeout_s=5)
    assert msg.writer == "template" and msg.guardrail_failed == "invented_item"


def test_build_copywriter_without_llm_serves_templates() -> None:
    writer, server = build_copywriter(CopyConfig(writer="full"), catalog_titles=["Trail Running Shoes"], with_llm=False)
    with writer:
        assert server is None and writer.write(REQ).writer == "template"


def test_a_failing_llm_job_is_logged_and_answered_with_a_template(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        model = "broken"

        def complete(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("parser bug")

        def stream(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("parser bug")

    with caplog.at_level("ERROR", logger="recsvc.copy.writer"), Copywriter(CopyConfig(writer="full"), Broken()) as w:
        msg = w.write(REQ, budget_s=5.0)
        assert msg.writer == "template" and msg.fallback_reason == "unavailable"
        stats = w.warm([CopyRequest(**{**REQ.__dict__, "channel": "email"})], progress=False)
        assert stats["errors"] == 1
    failures = [r for r in caplog.records if r.exc_info and "parser bug" in str(r.exc_info[1])]
    assert len(failures) == 2  # one per job, with its traceback
