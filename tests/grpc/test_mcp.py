"""A chat session through the MCP server (stdio), which bridges to the real gRPC server, and its
``recommend_products`` tool called directly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

import pytest

from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def test_mcp_tools_recommend_catalog_items(server: RecsvcServer, known_user: str) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    catalog = set(server.engine.store.items_frame()["item_id"])
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "recsvc.cli", "mcp", "--target", f"127.0.0.1:{server.port}"],
        env={**os.environ},
    )

    async def session() -> tuple[set[str], list[dict[str, object]], dict[str, object]]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            tools = {t.name for t in (await s.list_tools()).tools}
            res = await s.call_tool("recommend_products", {"user_id": known_user, "query": "snacks", "k": 3})
            items = json.loads(res.content[0].text)["items"]  # type: ignore[union-attr]
            prof = await s.call_tool("get_user_profile", {"user_id": known_user})
            return tools, items, json.loads(prof.content[0].text)  # type: ignore[union-attr]

    tools, items, profile = asyncio.run(asyncio.wait_for(session(), 120))
    assert {"recommend_products", "get_user_profile", "write_message"} <= tools
    assert 1 <= len(items) <= 3
    assert all(i["item_id"] in catalog for i in items)
    assert profile["known"] is True


def test_recommend_products_answers_in_the_language_of_the_query(
    stub: pb_grpc.PushRecommenderStub, own_user: str
) -> None:
    from recsvc.mcp_server import recommend

    user = pb.User(user_id=own_user, locale="zh-CN", timezone="Asia/Shanghai")
    stub.UpsertUsers(pb.UpsertUsersRequest(users=[user]), timeout=30)
    out = recommend(stub, own_user, "baby wipes", 3)
    titles = [i["title"] for i in out["items"]]
    assert titles and out["reply"].startswith("Here are my picks") and all(t in out["reply"] for t in titles)
    assert recommend(stub, own_user, "有什么咖啡推荐吗？", 3)["reply"].startswith("为你推荐")
    for kwargs, name in (({"query": "x" * 10_000}, "query"), ({"query": "coffee", "locale": "xx-XX"}, "locale")):
        with pytest.raises(ValueError, match=f"INVALID_ARGUMENT: {re.escape(name)}"):
            recommend(stub, own_user, **kwargs)  # type: ignore[arg-type]
