"""The MCP server as an OAuth protected resource (MCP authorization spec, RFC 9728, RFC 6750)
from pattern 05 on: every MCP request needs a token issued for it; the challenge names the
metadata; the metadata names the realm; the refusal is on the wire with its reason."""

from __future__ import annotations

import httpx
import jwt
import pytest

from runtime.runner import PatternRunner

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream"}


def _metadata_url(runner: PatternRunner) -> str:
    base = runner.mcp_url.removesuffix("/mcp")
    return f"{base}/.well-known/oauth-protected-resource/mcp"


async def _initialize(runner: PatternRunner, token: str | None) -> httpx.Response:
    headers = dict(HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as client:
        return await client.post(runner.mcp_url, json=INITIALIZE, headers=headers)


def _signed(runner: PatternRunner, claims: dict) -> str:
    keys = runner.stack.idp.provider.keys  # type: ignore[union-attr]
    return jwt.encode(claims, keys.active.private_key, algorithm="RS256",
                      headers={"kid": keys.active.kid})


async def test_initialize_without_a_token_is_challenged_with_the_metadata_url(stack):
    async with PatternRunner("p06", stack=stack) as runner:
        response = await _initialize(runner, None)
        gates = [h for h in runner.tap.hops if "gate" in h.data]
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{_metadata_url(runner)}", scope="mcp:tools"')
    assert gates and gates[-1].data["gate"]["reason"] == "no access token on the MCP request"


async def test_the_metadata_names_the_resource_the_realm_and_the_scope(stack):
    async with PatternRunner("p05", stack=stack) as runner, httpx.AsyncClient() as client:
        metadata = (await client.get(_metadata_url(runner))).json()
        issuer = runner.stack.endpoints.issuer  # type: ignore[union-attr]
    assert metadata["resource"] == runner.mcp_url
    assert metadata["authorization_servers"] == [issuer]
    assert metadata["scopes_supported"] == ["mcp:tools"]
    assert metadata["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize("suffix", ["/other", "/mcp%00", "/mcp/", "/../mcp", "/mcp/extra"])
async def test_metadata_is_served_for_this_resource_only(stack, suffix):
    """RFC 9728 section 3.1: the metadata of resource https://host/mcp is at
    /.well-known/oauth-protected-resource/mcp (and, for clients that try it, the root
    form); under any other path it would describe a resource that is not there."""
    async with PatternRunner("p06", stack=stack) as runner, httpx.AsyncClient() as client:
        base = runner.mcp_url.removesuffix("/mcp")
        root = await client.get(f"{base}/.well-known/oauth-protected-resource")
        other = await client.get(f"{base}/.well-known/oauth-protected-resource{suffix}")
    assert root.status_code == 200 and root.json()["resource"] == runner.mcp_url
    assert other.status_code in (401, 404), other.text   # never this resource's metadata
    assert "resource" not in other.json()


async def test_a_bad_token_is_invalid_token_and_says_why(stack):
    async with PatternRunner("p06", stack=stack) as runner:
        response = await _initialize(runner, "not-a-token")
        exchanges = [h for h in runner.tap.hops if h.kind == "idp" and "token" in h.summary]
    challenge = response.headers["www-authenticate"]
    assert response.status_code == 401 and 'error="invalid_token"' in challenge
    assert "malformed token" in challenge and "resource_metadata=" in challenge
    assert exchanges == []       # refused before any exchange


async def test_a_token_for_the_mcp_server_without_its_scope_is_403_insufficient_scope(stack):
    async with PatternRunner("p07", stack=stack) as runner:
        claims = jwt.decode(await runner.login("alice"), options={"verify_signature": False})
        claims["scope"] = "profile email"
        response = await _initialize(runner, _signed(runner, claims))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("pattern", ["p01", "p04"])
async def test_before_pattern_05_the_mcp_server_is_not_a_protected_resource(stack, pattern):
    async with PatternRunner(pattern, stack=stack) as runner, httpx.AsyncClient() as client:
        session = await _initialize(runner, None)
        metadata = await client.get(_metadata_url(runner))
    assert session.status_code == 200 and metadata.status_code == 404


async def test_the_user_logs_in_through_the_mcp_flow_and_the_wire_shows_each_hop(stack):
    async with PatternRunner("p06", stack=stack) as runner:
        await runner.login("bob")
        hops = [(h.source, h.kind, h.status, h.url) for h in runner.tap.hops]
    order = [
        ("agent", "mcp", 401, runner.mcp_url),
        ("agent", "mcp", 200, _metadata_url(runner)),
    ]
    assert [h for h in hops if (h[0], h[1]) == ("agent", "mcp")][:2] == order
    browser = [h for h in hops if h[0] == "browser"]
    assert [h[2] for h in browser] == [200, 302]     # the login page, then the redirect back
    assert "/protocol/openid-connect/auth" in browser[0][3]
    assert any(h[0] == "agent" and h[1] == "idp" and h[3].endswith("/token") for h in hops)


INSPECTOR = "http://localhost:6274"   # the MCP Inspector's UI, which fetches from the page


async def test_a_browser_client_on_loopback_gets_the_challenge_and_the_metadata(stack):
    async with PatternRunner("p06", stack=stack) as runner, httpx.AsyncClient() as client:
        preflight = await client.options(runner.mcp_url, headers={
            "Origin": INSPECTOR, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version"})
        challenged = await client.post(runner.mcp_url, json=INITIALIZE,
                                       headers={**HEADERS, "Origin": INSPECTOR})
        metadata = await client.get(_metadata_url(runner), headers={"Origin": INSPECTOR})
    # the preflight carries no credential: answered before the gate, not refused by it
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == INSPECTOR
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert challenged.status_code == 401
    assert challenged.headers["access-control-allow-origin"] == INSPECTOR
    exposed = challenged.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in exposed and "mcp-session-id" in exposed
    assert metadata.status_code == 200 and metadata.headers["access-control-allow-origin"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example",
                                    "null", "http://127.0.0.1.evil.example:6274"])
async def test_a_page_from_anywhere_else_gets_no_cors_answer(stack, origin):
    async with PatternRunner("p06", stack=stack) as runner, httpx.AsyncClient() as client:
        preflight = await client.options(runner.mcp_url, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        metadata = await client.get(_metadata_url(runner), headers={"Origin": origin})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 400              # Starlette refuses the preflight
    assert "access-control-allow-origin" not in metadata.headers
