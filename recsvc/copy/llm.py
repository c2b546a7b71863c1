"""A small LLM client protocol and its OpenAI-compatible implementation (llama.cpp, vLLM, OpenAI...)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import openai

from recsvc.copy.config import CopyConfig
from recsvc.errors import Unavailable

logger = logging.getLogger(__name__)

Prompt = str | list[dict[str, str]]


class LLMResult(NamedTuple):
    """Text and token usage as reported by the API (0 when the server does not say)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    # 'stop', 'length' (cut by max_tokens) or '' when the server does not say.
    finish_reason: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMClient(Protocol):
    """What the copywriter needs from a model: a string prompt (completion) or chat messages."""

    model: str

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
        """``grammar`` (GBNF, llama.cpp servers) or ``json_object`` (chat JSON mode) constrain the answer."""
        ...

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        timeout_s: float,
        stop: Sequence[str] | None = None,
        temperature: float = 0.7,
    ) -> Iterator[str]: ...


class OpenAILLM:
    """``LLMClient`` over the ``openai`` SDK: ``completions`` for a str prompt, ``chat`` for messages.

    SDK retries are off: the copywriter has a template to fall back on and a budget to keep, so a
    failed call should fail fast. Errors surface as ``Unavailable`` (timeouts included).
    """

    def __init__(self, config: CopyConfig, *, base_url: str | None = None, model: str | None = None) -> None:
        self.model = model or config.model
        self.base_url = base_url or config.base_url
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=config.api_key(),
            timeout=config.timeout_s,
            max_retries=0,
        )

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
        extra: dict[str, Any] = {"seed": seed}
        if grammar is not None:
            # Not an OpenAI field: llama.cpp's server reads it from the body and samples within it.
            extra["extra_body"] = {"grammar": grammar}
        if json_object and not isinstance(prompt, str):
            # JSON mode, not a JSON schema: llama.cpp answers a schema in chat with HTTP 500.
            extra["response_format"] = {"type": "json_object"}
        with self._unavailable_on_error(timeout_s):
            resp = self._create(prompt, max_tokens, timeout_s, stop, temperature, **extra)
            choice = resp.choices[0] if resp.choices else None
            if choice is None:
                text = ""
            elif isinstance(prompt, str):
                text = choice.text
            else:
                text = choice.message.content or ""
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        finish = str(getattr(choice, "finish_reason", "") or "")
        return LLMResult(text or "", pt, ct, finish)

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        timeout_s: float,
        stop: Sequence[str] | None = None,
        temperature: float = 0.7,
    ) -> Iterator[str]:
        """Yield text deltas as they arrive (for assistant replies)."""
        with self._unavailable_on_error(timeout_s):
            for ev in self._create(prompt, max_tokens, timeout_s, stop, temperature, stream=True):
                if isinstance(prompt, str):
                    if ev.choices and ev.choices[0].text:
                        yield ev.choices[0].text
                elif ev.choices and ev.choices[0].delta and ev.choices[0].delta.content:
                    yield ev.choices[0].delta.content

    def _create(
        self,
        prompt: Prompt,
        max_tokens: int,
        timeout_s: float,
        stop: Sequence[str] | None,
        temperature: float,
        **extra: Any,
    ) -> Any:
        """One SDK call: ``completions`` for a str prompt, ``chat`` for messages."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": list(stop) if stop else None,
            "timeout": timeout_s,
            **extra,
        }
        if isinstance(prompt, str):
            return self._client.completions.create(prompt=prompt, **kwargs)
        # Messages are plain dicts here; the SDK's TypedDict overloads add nothing but casts.
        chat_create: Any = self._client.chat.completions.create
        return chat_create(messages=prompt, **kwargs)

    @contextlib.contextmanager
    def _unavailable_on_error(self, timeout_s: float) -> Iterator[None]:
        """SDK errors, timeouts included, surface as ``Unavailable`` naming the endpoint."""
        try:
            yield
        except openai.APITimeoutError as exc:
            raise Unavailable(f"LLM at {self.base_url} timed out after {timeout_s:.1f}s") from exc
        except openai.OpenAIError as exc:
            raise Unavailable(f"LLM at {self.base_url} failed: {exc}") from exc

    def close(self) -> None:
        self._client.close()
