"""Copywriter: LLM copy with guardrails, templates and a cache; local llama.cpp server; assistant replies.

Wiring (engine/server/CLI)::

    writer, server = build_copywriter(CopyConfig(), catalog_titles=items["title"])
    msg = writer.write(CopyRequest(...))            # within copy_budget_ms: LLM if cached, else template
    msg = writer.write_now(CopyRequest(...), 10.0)  # GenerateMessage: waits for the LLM
    ...
    writer.close(); server and server.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import check
from recsvc.copy.llm import LLMClient, LLMResult, OpenAILLM
from recsvc.copy.local_server import LocalLLMServer
from recsvc.copy.titles import CatalogTitles
from recsvc.copy.types import CopyRequest, Message
from recsvc.copy.writer import Copywriter

logger = logging.getLogger(__name__)

__all__ = [
    "CatalogTitles",
    "CopyConfig",
    "CopyRequest",
    "Copywriter",
    "LLMClient",
    "LLMResult",
    "LocalLLMServer",
    "Message",
    "OpenAILLM",
    "build_copywriter",
    "check",
]


def build_copywriter(
    config: CopyConfig,
    *,
    catalog_titles: Iterable[str] | None = None,
    with_llm: bool = True,
) -> tuple[Copywriter, LocalLLMServer | None]:
    """A ready copywriter; starts the local llama.cpp server first when ``config.local_enabled``.

    Returns the server too so the caller stops it on shutdown. With ``with_llm=False`` (or when the
    local server cannot start) copy comes from templates only, which is logged, not raised: copy is
    never a reason for Recommend to fail.
    """
    config.validate()
    if not with_llm:
        return Copywriter(config, None, catalog_titles=catalog_titles), None
    server: LocalLLMServer | None = None
    base_url = config.base_url
    if config.local_enabled:
        server = LocalLLMServer(config)
        try:
            server.start()
            base_url = server.base_url
        except Exception as exc:  # templates still work; say why the LLM is off
            logger.error("local LLM server failed to start, copy falls back to templates: %s", exc)
            return Copywriter(config, None, catalog_titles=catalog_titles), None
    llm = OpenAILLM(config, base_url=base_url)
    return Copywriter(config, llm, catalog_titles=catalog_titles), server
