"""`agent-auth serve` on either stack (AGENT_AUTH_STACK=external: the real Keycloak and
OPA): the credentials it prints under p07 carry a delegated call through its MCP server,
and the user's token alone, without the agent's, is refused."""

from __future__ import annotations

import json

import httpx2
from background import Served
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def _call(url: str, headers: dict[str, str]) -> str:
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            streamable_http_client(url, http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        result = await session.call_tool("read_data", {"kind": "expenses"})
        return "".join(getattr(part, "text", "") for part in result.content)


async def test_serve_under_p07_prints_what_a_delegated_call_needs():
    served = Served("-p", "p07", "-u", "bob", "--json")
    try:
        first = json.loads(served.next_line(timeout=120))
        headers = first["headers"]
        assert set(headers) == {"Authorization", "X-Actor-Token"}
        assert "Taxi to customer" in await _call(first["mcp_url"], headers)
        alone = await _call(first["mcp_url"], {"Authorization": headers["Authorization"]})
        assert "Taxi to customer" not in alone and "no actor token" in alone
        seen: list[str] = []
        while not any("ALLOW read_expenses by bob (actor agent)" in s for s in seen):
            seen.append(json.loads(served.next_line())["summary"])
    finally:
        code, err = served.stop()
    assert code == 0, err
