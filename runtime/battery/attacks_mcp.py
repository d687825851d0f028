"""Attacks on the agent -> MCP server hop (the MCP authorization spec, RFC 9728, RFC 8707).

From pattern 05 on the MCP server is an OAuth protected resource: every MCP request needs a
token issued for it. The MCP client (the agent) must in turn only authorize for the server
it talks to: metadata naming another resource is refused before the user logs in. A client
of its own registers at the IdP (RFC 7591) only for loopback redirect URIs and the MCP
server's scope: codes cannot be sent elsewhere, nor the broad audiences be had that way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
from mcp import Client
from mcp.client.auth import OAuthFlowError
from mcp.client.streamable_http import streamable_http_client

from runtime.battery.core import Arena, Attack, Outcome, split_token
from runtime.http import make_client2

FAMILY = "MCP"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}


async def _initialize(a: Arena, token: str | None) -> Outcome:
    """A raw `initialize` with `token` (or none): a session is the attack succeeding."""
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with a.attacker_trace():
        response = await a.client.post(a.runner.mcp_url, json=INITIALIZE, headers=headers)
    challenge = response.headers.get("www-authenticate", "")
    if response.status_code == 401 and "resource_metadata=" not in challenge:
        return Outcome(True, 401, f"refused without naming its metadata: {challenge!r}")
    detail = response.json().get("error_description", "") if response.status_code >= 400 \
        else "a session was opened"
    return Outcome(response.status_code < 300, response.status_code, str(detail))


async def no_token(a: Arena) -> Outcome:
    return await _initialize(a, None)


async def token_for_a_service(a: Arena) -> Outcome:
    """The token the MCP server sent the records service (aud records-service), sent back
    to the MCP server as if it were the user's."""
    cred = await a.credential()
    if cred.token == cred.login_token:
        raise RuntimeError("setup: this pattern forwards the user's own token")
    return await _initialize(a, cred.token)


async def token_without_audience(a: Arena) -> Outcome:
    cred = await a.credential()
    _, claims, _ = split_token(cred.login_token)
    return await _initialize(a, a.idp_sign({k: v for k, v in claims.items() if k != "aud"}))


async def login_token_not_for_mcp(a: Arena) -> Outcome:
    """The user's token from a login that did not ask for the MCP server (`scope=openid`):
    its audience lists the tool services but not the MCP server."""
    body = await a.login_response("alice", scope="openid")
    return await _initialize(a, body["access_token"])


async def metadata_elsewhere(a: Arena) -> Outcome:
    """A rogue MCP server answers 401 with metadata claiming the real MCP server's resource
    and the real IdP: an agent that followed it would log alice in and hand it her token."""
    server = a.kit.server
    server.claimed_resource = a.runner.mcp_url
    server.authorization_server = a.runner.stack.endpoints.issuer  # type: ignore[union-attr]
    rogue = f"{server.base_url}/mcp"
    before = len(server.bearers)
    provider = a.runner.logins.provider("alice", rogue)
    http: httpx2.AsyncClient = make_client2(a.runner.tap, a.runner.endpoints, "agent",
                                            auth=provider)
    refused = ""
    with a.attacker_trace():
        try:
            async with http, Client(streamable_http_client(rogue, http_client=http)):
                pass
        except* OAuthFlowError as group:
            refused = str(group.exceptions[0])
        except* Exception as group:  # noqa: BLE001 - any failure is a refusal to authorize
            refused = f"{type(group.exceptions[0]).__name__}: {group.exceptions[0]}"
    leaked = server.bearers[before:]
    if leaked:
        return Outcome(True, 200, "the agent sent alice's token to the rogue MCP server")
    return Outcome(False, 401, refused or "the agent did not authorize")


async def _register(a: Arena, **metadata: Any) -> Outcome:
    """An anonymous registration (RFC 7591): a client id is the attack succeeding."""
    issuer = a.runner.stack.endpoints.issuer  # type: ignore[union-attr]
    body = {"client_name": "attacker", "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
            "scope": "openid mcp:tools", **metadata}
    with a.attacker_trace():
        response = await a.client.post(f"{issuer}/clients-registrations/openid-connect",
                                       json=body)
    if response.status_code == 201:
        return Outcome(True, 201, f"registered as {response.json().get('client_id')}")
    try:
        detail = str(response.json().get("error_description", ""))
    except ValueError:
        detail = response.text[:200]
    return Outcome(False, response.status_code, detail)


async def register_redirect_elsewhere(a: Arena) -> Outcome:
    """A client whose redirect URI is the attacker's site: alice's codes would go there."""
    return await _register(a, redirect_uris=["https://attacker.example/callback"])


async def register_broad_scopes(a: Arena) -> Outcome:
    """A client that asks for the scopes of the broad login token and of delegation."""
    return await _register(a, scope="openid tool-services-audience agent:delegate")


def _attack(id_: str, name: str, run: Callable[[Arena], Any], *, status: int = 401,
            patterns: tuple[str, ...] = ("p05", "p06", "p07", "p08", "p09", "p10"), ref: str = "",
            oracle: bool = False) -> Attack:
    return Attack(f"mcp.{id_}", FAMILY, name, run, patterns=patterns, ref=ref,
                  oracle=oracle, deny_status=status)


ATTACKS: tuple[Attack, ...] = (
    _attack("no-token.initialize", "initialize with no token: a session without auth",
            no_token, ref="MCP authorization; RFC 9728 5.1"),
    _attack("token-for-a-service", "the records service's token sent to the MCP server",
            token_for_a_service, patterns=("p06", "p07", "p08", "p09", "p10"), ref="RFC 8707"),
    _attack("token-without-audience", "a validly signed user token with no aud",
            token_without_audience, oracle=True, ref="RFC 9068 4"),
    _attack("login-token-not-for-mcp", "the user's login token that did not ask for the "
            "MCP server (no mcp:tools)", login_token_not_for_mcp, ref="RFC 8707"),
    _attack("metadata-elsewhere", "a rogue MCP server's metadata names another resource: "
            "does the agent log alice in for it?", metadata_elsewhere, ref="RFC 9728 3.3"),
    _attack("register.redirect-elsewhere", "register a client whose redirect URI is the "
            "attacker's site", register_redirect_elsewhere, status=403, ref="RFC 7591 5"),
    _attack("register.broad-scopes", "register a client for the broad login token's and "
            "delegation's scopes", register_broad_scopes, status=403, ref="RFC 7591 2"),
)
