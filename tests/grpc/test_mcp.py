"""A chat session through the MCP server (stdio), which bridges to the real gRPC server."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from recsvc.server.app import RecsvcServer


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
