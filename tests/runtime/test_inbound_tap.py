"""InboundTap: a hop for each request a server gets from a client outside the runtime
(`agent-auth serve`), its body kept only as far as the wire shows it, and nothing recorded
while the runtime's own clients use the server."""

from __future__ import annotations

import json

import httpx

from runtime.http import MAX_BODY_SHOWN, InboundTap
from runtime.wire import WireTap


async def _echo_length(scope, receive, send) -> None:
    """Reads the whole body, answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"size": size}).encode()
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def test_a_clients_request_is_a_hop_with_its_method_status_and_tool():
    tap = WireTap()
    app = InboundTap(_echo_length, tap, "mcp-server")
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "read_data", "arguments": {"kind": "notes"}}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://mcp.test") as client:
        answer = await client.post("/mcp", json=call, headers={"Authorization": "Bearer x"})
    assert answer.status_code == 201
    [hop] = tap.hops
    assert (hop.kind, hop.source, hop.target) == ("mcp", "client", "mcp-server")
    assert (hop.method, hop.status, hop.summary) == ("POST", 201, "tools/call read_data")
    assert hop.url == "http://mcp.test/mcp"
    assert ("authorization", "Bearer x") in hop.request_headers
    assert json.loads(hop.request_body) == call


async def test_a_huge_body_reaches_the_app_whole_but_the_hop_keeps_what_it_shows():
    tap = WireTap()
    app = InboundTap(_echo_length, tap, "mcp-server")
    body = b"x" * (5 * MAX_BODY_SHOWN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://mcp.test") as client:
        answer = await client.post("/mcp", content=body)
    assert answer.json() == {"size": len(body)}
    [hop] = tap.hops
    assert hop.request_body.endswith("[... truncated]")
    assert len(hop.request_body) < MAX_BODY_SHOWN + 100


async def test_nothing_is_recorded_while_the_runtime_uses_the_server_itself():
    tap = WireTap()
    app = InboundTap(_echo_length, tap, "mcp-server")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://mcp.test") as client:
        app.paused = True
        await client.post("/mcp", content=b"{}")
        app.paused = False
        await client.get("/.well-known/oauth-protected-resource/mcp")
    assert [h.summary for h in tap.hops] == ["GET /.well-known/oauth-protected-resource/mcp"]
