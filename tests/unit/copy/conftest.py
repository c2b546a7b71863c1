"""Test double for the copy package: a scripted ``LLMClient`` whose replies are the inputs under test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from recsvc.copy.llm import LLMResult, Prompt
from recsvc.errors import Unavailable


class ScriptedLLM:
    """Returns the scripted completions in order (the last one repeats); can be slow on purpose."""

    model = "scripted"

    def __init__(self, replies: list[str], delay_s: float = 0.0) -> None:
        self.replies = replies
        self.delay_s = delay_s
        self.calls = 0
        self.prompts: list[Prompt] = []
        self.grammars: list[str | None] = []
        self.seeds: list[int | None] = []
        self._lock = threading.Lock()

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        timeout_s: float,
        stop: Sequence[str] | None = None,
        temperature: float = 0.7,
        seed: int | None = None,
        grammar: str | None = None,
        json_object: bool = False,
    ) -> LLMResult:
        with self._lock:
            i = min(self.calls, len(self.replies) - 1)
            self.calls += 1
            self.prompts.append(prompt)
            self.grammars.append(grammar)
            self.seeds.append(seed)
        if self.delay_s:
            if self.delay_s > timeout_s:
                time.sleep(timeout_s)
                raise Unavailable("scripted timeout")
            time.sleep(self.delay_s)
        return LLMResult(self.replies[i], 100, 20)

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        timeout_s: float,
        stop: Sequence[str] | None = None,
        temperature: float = 0.7,
    ) -> Iterator[str]:
        text = self.complete(prompt, max_tokens=max_tokens, timeout_s=timeout_s).text
        for i in range(0, len(text), 7):
            yield text[i : i + 7]


@pytest.fixture
def scripted_llm() -> type[ScriptedLLM]:
    return ScriptedLLM
