"""An MCP server (stdio) that offers recsvc to an existing chat AI as tools.

It is a thin bridge to a running recsvc gRPC server, so the chat AI sees the same models, store
and guardrails as every other caller. Tools: ``recommend_products``, ``get_user_profile``,
``write_message`` (the same three as the OpenAI function definitions in ``recsvc.copy.tools``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from recsvc.client import metadata, rpc_error
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from recsvc.vocabulary import CHANNELS, enum_value

logger = logging.getLogger(__name__)


def _dict(msg: Any) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True)


def recommend(
    stub: pb_grpc.PushRecommenderStub,
    user_id: str,
    query: str = "",
    k: int = 5,
    locale: str = "",
    *,
    call_metadata: Sequence[tuple[str, str]] = (),
    target: str = "",
) -> dict[str, Any]:
    """The ``recommend_products`` tool: ``AssistantReply`` for a query (items and the grounded reply,
    in the query's language), ``Recommend`` without one. Errors name the tool's arguments."""
    k = max(1, min(int(k), 20))
    reply = ""
    try:
        if query:
            req = pb.AssistantReplyRequest(
                user_id=user_id, conversation=[pb.ChatTurn(role="user", text=query)], max_items=k, locale=locale
            )
            chunks = list(stub.AssistantReply(req, timeout=30, metadata=call_metadata))
            cands = list(chunks[0].items) if chunks else []
            reply = "".join(c.text for c in chunks)
        else:
            ctx = pb.RequestContext(locale=locale)
            cands = list(
                stub.Recommend(
                    pb.RecommendRequest(user_id=user_id, max_candidates=k, context=ctx),
                    timeout=30,
                    metadata=call_metadata,
                ).candidates
            )
    except grpc.RpcError as exc:
        # The query travels as the conversation's one turn; the caller knows it as ``query``.
        raise ValueError(str(rpc_error(exc, target)).replace("conversation[0].text", "query")) from None
    out: dict[str, Any] = {"items": [_item(c) for c in cands]}
    if reply:
        out["reply"] = reply
    return out


def _item(c: Any) -> dict[str, Any]:
    return {
        "item_id": c.item.item_id,
        "title": c.item.title,
        "price": c.item.price,
        "currency": c.item.currency,
        "reason": c.reason,
        "image_url": c.item.image_url,
    }


def build_mcp(target: str, token: str = "") -> Any:
    """The MCP server object (not yet running), bound to the gRPC ``target``."""
    from mcp.server.mcpserver import MCPServer

    channel = grpc.insecure_channel(target)
    stub = pb_grpc.PushRecommenderStub(channel)
    md = metadata(token)
    server = MCPServer(
        name="recsvc",
        instructions="Product recommendations, user profiles and push copy from recsvc. Only recommend items "
        "that these tools return.",
    )

    @server.tool(
        description="Recommend catalog products for a user, optionally for what the user asked (query). With a "
        "query, 'reply' is a short answer in the language of the query that names only the returned items."
    )
    def recommend_products(user_id: str, query: str = "", k: int = 5, locale: str = "") -> dict[str, Any]:
        return recommend(stub, user_id, query, k, locale, call_metadata=md, target=target)

    @server.tool(description="Read what recsvc knows about a user: stage, churn risk, tier, recent items.")
    def get_user_profile(user_id: str) -> dict[str, Any]:
        try:
            return _dict(stub.GetUserProfile(pb.GetUserProfileRequest(user_id=user_id), timeout=30, metadata=md))
        except grpc.RpcError as exc:
            raise ValueError(str(rpc_error(exc, target))) from None

    @server.tool(description="Write a guarded push/SMS/email message for a user about one catalog item.")
    def write_message(user_id: str, item_id: str, channel: str = "app_push") -> dict[str, Any]:
        ch: Any = enum_value(CHANNELS, channel.strip().lower())
        if not ch:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
        try:
            r = stub.GenerateMessage(
                pb.GenerateMessageRequest(user_id=user_id, item_id=item_id, channel=ch), timeout=60, metadata=md
            )
        except grpc.RpcError as exc:
            raise ValueError(str(rpc_error(exc, target))) from None
        return _dict(r.message)

    return server


def run_mcp(target: str) -> int:
    """Serve MCP over stdio until the client closes it."""
    build_mcp(target, os.environ.get("RECSVC_API_TOKEN", "")).run("stdio")
    return 0
