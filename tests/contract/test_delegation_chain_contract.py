"""Pattern 09's hand-off over HTTP, on the embedded IdP and on Keycloak 26.7 alike, with
what differs said per stack (docs/real-stack.md, "Delegation chains").

Both: the agent's exchange of alice's token for the summarizer narrows aud and scope and
carries may_act; the summarizer's exchange of that gets it an MCP token with only
`acme:read`; a client can never ask for a scope that is not one of its own.
Embedded only: `act` nests the chain, `may_act` is checked, and a requester may not widen a
scope beyond the subject token's. Keycloak 26.7 ignores actor_token (no `act`, `may_act` not
checked) and grants a requester any of its optional scopes, whatever the subject had.
"""

from __future__ import annotations

import httpx
import jwt
import pytest
from test_idp_contract import ACCESS, AGENT_SA, EXTERNAL, Idp

SUMMARIZER_SA = "8a1f6c1e-0000-4000-8000-0000005ab9e7"
LOGIN = "openid mcp:tools acme:read acme:write agent:delegate"
SECRETS = {"agent": "agent-secret", "summarizer": "summarizer-secret",
           "mcp-server": "mcp-server-secret"}


async def _own(server: Idp, client_id: str) -> str:
    r = await server.token({"grant_type": "client_credentials", "client_id": client_id,
                         "client_secret": SECRETS[client_id]})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _exchange(server: Idp, subject: str, client_id: str, **extra: str):
    return await server.exchange(subject, client_id=client_id, secret=SECRETS[client_id],
                              **extra)


def _claims(response) -> dict:
    assert response.status_code == 200, response.text
    return jwt.decode(response.json()["access_token"], options={"verify_signature": False})


@pytest.fixture
async def server(idp_url: str):
    async with httpx.AsyncClient(timeout=15) as http:
        yield Idp(idp_url, http)


@pytest.fixture
async def hand_off(server: Idp) -> str:
    login = await server.user_token("alice", scope=LOGIN)
    r = await _exchange(server, login, "agent", audience="summarizer",
                        scope="mcp:tools acme:read delegate:summarizer",
                        actor_token=await _own(server, "agent"), actor_token_type=ACCESS)
    claims = _claims(r)
    assert claims["aud"] == "summarizer" and claims["azp"] == "agent"
    assert set(claims["scope"].split()) >= {"mcp:tools", "acme:read"}
    assert "acme:write" not in claims["scope"].split()
    assert claims["may_act"] == {"sub": SUMMARIZER_SA, "client_id": "summarizer"}
    if EXTERNAL:
        assert "act" not in claims
    else:
        assert claims["act"] == {"sub": AGENT_SA, "client_id": "agent"}
    return str(r.json()["access_token"])


async def test_the_summarizers_task_token_is_read_only_and_for_the_mcp_server(server, hand_off):
    r = await _exchange(server, hand_off, "summarizer", audience="mcp-server",
                        scope="mcp:tools acme:read",
                        actor_token=await _own(server, "summarizer"), actor_token_type=ACCESS)
    claims = _claims(r)
    assert claims["aud"] == "mcp-server" and claims["azp"] == "summarizer"
    assert claims["preferred_username"] == "alice"
    assert "acme:read" in claims["scope"].split()
    assert "acme:write" not in claims["scope"].split()
    if EXTERNAL:   # Keycloak 26.7: the chain shows only as azp
        assert "act" not in claims
    else:
        assert claims["act"] == {"sub": SUMMARIZER_SA, "client_id": "summarizer",
                                 "act": {"sub": AGENT_SA, "client_id": "agent"}}


async def test_a_client_cannot_ask_for_a_scope_it_does_not_have(server, hand_off):
    r = await _exchange(server, hand_off, "summarizer", audience="mcp-server",
                        scope="mcp:tools acme:read acme:write",
                        actor_token=await _own(server, "summarizer"), actor_token_type=ACCESS)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_re_exchanging_a_task_token_for_more_scope(server, hand_off):
    """The MCP server holds acme:write as an optional scope. The embedded IdP keeps a scope
    within the subject token's; Keycloak 26.7 grants it: there only the MCP server's own
    code (ask for what the presented token carries) keeps the task read-only."""
    made = await _exchange(server, hand_off, "summarizer", audience="mcp-server",
                           scope="mcp:tools acme:read",
                           actor_token=await _own(server, "summarizer"), actor_token_type=ACCESS)
    assert "acme:write" not in _claims(made)["scope"].split()
    r = await _exchange(server, made.json()["access_token"], "mcp-server",
                        audience="records-service", scope="acme:read acme:write")
    if EXTERNAL:
        assert "acme:write" in _claims(r)["scope"].split()
    else:
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_an_actor_the_subject_does_not_name(server):
    login = await server.user_token("alice", scope=LOGIN)
    r = await _exchange(server, login, "agent", audience="summarizer",
                        scope="mcp:tools acme:read delegate:summarizer",
                        actor_token=await _own(server, "summarizer"), actor_token_type=ACCESS)
    if EXTERNAL:   # Keycloak 26.7 does not read may_act: the actor is ignored
        assert "act" not in _claims(r)
    else:
        assert r.status_code == 400
        assert "not allowed to act for the subject" in r.json()["error_description"]


async def test_the_summarizer_cannot_exchange_the_users_own_token(server):
    login = await server.user_token("alice", scope=LOGIN)
    r = await _exchange(server, login, "summarizer", audience="mcp-server",
                        scope="mcp:tools acme:read")
    assert r.status_code == 403 and r.json()["error"] == "access_denied"
