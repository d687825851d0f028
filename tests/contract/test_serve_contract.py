"""`agent-auth serve` on either stack (AGENT_AUTH_STACK=external: the real Keycloak and
OPA): the credentials it prints under p07 carry a delegated call through its MCP server,
and the user's token alone, without the agent's, is refused."""

from __future__ import annotations

import json

from background import Served, mcp_call


async def test_serve_under_p07_prints_what_a_delegated_call_needs():
    served = Served("-p", "p07", "-u", "bob", "--json")
    try:
        first = json.loads(served.next_line(timeout=120))
        headers = first["headers"]
        assert set(headers) == {"Authorization", "X-Actor-Token"}
        assert "Taxi to customer" in await mcp_call(first["mcp_url"], headers)
        alone = await mcp_call(first["mcp_url"], {"Authorization": headers["Authorization"]})
        assert "Taxi to customer" not in alone and "no actor token" in alone
        seen: list[str] = []      # the audit names bob, and an actor (how: per IdP)
        while not any(s.startswith("ALLOW read_expenses by bob (actor ") for s in seen):
            seen.append(json.loads(served.next_line(timeout=30))["summary"])
    finally:
        code, err = served.stop()
    assert code == 0, err
