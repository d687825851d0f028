"""InboundTap: a hop for each request a server gets from a client outside the runtime
(`agent-auth serve`), its body kept only as far as the wire shows it, and none for the
runtime's own requests, which their clients record."""

from __future__ import annotations

import json

import httpx

from runtime.http import MAX_BODY_SHOWN, OWN_REQUEST, EndpointMap, InboundTap, make_client
from runtime.wire import HOP_LOG_BYTES, WireTap


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


async def test_the_runtimes_own_requests_are_left_to_the_client_that_sent_them():
    """A client made by the runtime marks what it sends to the MCP server and records it
    itself (without the mark); the server's tap records only the others'."""
    server_tap, client_tap = WireTap(), WireTap()
    app = InboundTap(_echo_length, server_tap, "mcp-server")
    endpoints = EndpointMap()
    endpoints.add("http://mcp.test", "mcp", "mcp-server")
    ours = make_client(client_tap, endpoints, "agent",
                       transport=httpx.ASGITransport(app=app))
    async with ours, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url="http://mcp.test") as theirs:
        await ours.post("http://mcp.test/mcp", content=b"{}")
        await theirs.get("/.well-known/oauth-protected-resource/mcp")
        forged = await theirs.post("/mcp", content=b"{}", headers={OWN_REQUEST: "guess"})
    assert forged.status_code == 201
    assert [h.summary for h in server_tap.hops] == [
        "GET /.well-known/oauth-protected-resource/mcp", "POST /mcp"]   # a wrong mark: theirs
    [mine] = client_tap.hops
    assert mine.source == "agent" and mine.status == 201
    assert all(name.lower() != OWN_REQUEST for name, _ in mine.request_headers)


async def test_a_flood_from_another_local_user_keeps_the_record_within_its_budget():
    """Every request to a served MCP server is a hop, refused or not; 400 requests of 60 KB
    (24 MB) leave the tap at most its budget, the newest kept."""
    tap = WireTap()
    app = InboundTap(_echo_length, tap, "mcp-server")
    body = b"z" * 60_000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://mcp.test") as client:
        for n in range(400):
            await client.post(f"/mcp?n={n}", content=body)
    assert tap.hops.dropped > 0 and tap.hops.size <= HOP_LOG_BYTES
    assert len(tap.hops) + tap.hops.dropped == 400
    assert tap.hops[-1].url.endswith("?n=399")
