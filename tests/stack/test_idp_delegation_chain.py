"""Embedded IdP: a delegation chain is judged where it is made (RFC 8693 sections 4.1, 4.4).

Pattern 09's two exchanges: the agent trades alice's token for a hand-off token only the
summarizer may use (aud and may_act name it, scope narrowed to acme:read); the summarizer
trades that for its own MCP token, naming itself actor. The IdP refuses an actor the subject
token does not name, a chain longer than MAX_CHAIN, and a scope that widens; and says on the
response why it allowed a delegation.
"""

from __future__ import annotations

import json

from stack.idp import DEFAULT_REALM_FILE
from stack.idp.exchange import EXPLANATION_HEADER, MAX_CHAIN
from stack.idp.testing import IdPTestClient, claims_of

AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
SUMMARIZER_SA = "8a1f6c1e-0000-4000-8000-0000005ab9e7"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
LOGIN_SCOPE = "openid mcp:tools acme:read acme:write agent:delegate"   # pattern 09's login


async def _actor(kc: IdPTestClient, client_id: str) -> str:
    return (await kc.client_credentials(client_id)).json()["access_token"]


async def _hand_off(kc: IdPTestClient, scope: str = "mcp:tools acme:read") -> object:
    """The agent's exchange of alice's token for the summarizer."""
    return await kc.exchange(
        await kc.login("alice", scope=LOGIN_SCOPE), client_id="agent", audience="summarizer",
        scope=f"{scope} delegate:summarizer", actor_token=await _actor(kc, "agent"),
        actor_token_type=ACCESS)


async def _task_token(kc: IdPTestClient, hand_off: str, scope: str = "mcp:tools acme:read"):
    """The summarizer's exchange of the hand-off token for its own MCP token."""
    return await kc.exchange(
        hand_off, client_id="summarizer", audience="mcp-server", scope=scope,
        actor_token=await _actor(kc, "summarizer"), actor_token_type=ACCESS)


async def test_the_hand_off_is_for_the_summarizer_only_and_read_only(kc):
    r = await _hand_off(kc)
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["aud"] == "summarizer" and claims["azp"] == "agent"
    assert claims["act"] == {"sub": AGENT_SA, "client_id": "agent"}
    assert claims["may_act"] == {"sub": SUMMARIZER_SA, "client_id": "summarizer"}
    scopes = claims["scope"].split()
    assert "acme:read" in scopes and "acme:write" not in scopes


async def test_the_sub_agents_token_nests_the_agent_under_the_summarizer(kc):
    hand_off = (await _hand_off(kc)).json()["access_token"]
    r = await _task_token(kc, hand_off)
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["act"] == {"sub": SUMMARIZER_SA, "client_id": "summarizer",
                             "act": {"sub": AGENT_SA, "client_id": "agent"}}
    assert claims["preferred_username"] == "alice" and claims["aud"] == "mcp-server"
    assert "acme:write" not in claims["scope"].split()
    assert "acme:read" in claims["scope"].split()


async def test_the_idp_says_why_it_allowed_the_delegation(kc):
    hand_off = (await _hand_off(kc)).json()["access_token"]
    r = await _task_token(kc, hand_off)
    why = r.headers[EXPLANATION_HEADER]
    assert "actor summarizer is named by the subject token's may_act" in why
    assert f"summarizer <- agent is 2 of at most {MAX_CHAIN} actors" in why
    assert "scope mcp:tools acme:read is within the subject's" in why


async def test_a_widening_scope_is_refused(kc):
    hand_off = (await _hand_off(kc)).json()["access_token"]
    r = await _task_token(kc, hand_off, scope="mcp:tools acme:read acme:write")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_the_agent_cannot_hand_on_more_than_the_user_granted(kc):
    agent = await _actor(kc, "agent")
    r = await kc.exchange(
        await kc.login("alice", scope="openid mcp:tools acme:read agent:delegate"),
        client_id="agent", audience="summarizer",
        scope="mcp:tools acme:read acme:write delegate:summarizer",
        actor_token=agent, actor_token_type=ACCESS)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_an_actor_the_subject_does_not_name_is_refused(kc):
    # alice's own token names the agent (may_act), not the summarizer: skipping the link
    # the agent is in. The summarizer is not in the token's audience either; let it be,
    # so that only may_act is under test.
    login = await kc.login("alice", scope=LOGIN_SCOPE)
    r = await kc.exchange(login, audience="records-service",
                          actor_token=await _actor(kc, "summarizer"), actor_token_type=ACCESS)
    assert r.status_code == 400
    assert ("Actor 'summarizer' is not allowed to act for the subject"
            in r.json()["error_description"])


async def test_the_sub_agent_cannot_skip_the_agent(kc):
    login = await kc.login("alice", scope=LOGIN_SCOPE)
    r = await kc.exchange(login, client_id="summarizer", audience="mcp-server",
                          scope="mcp:tools acme:read",
                          actor_token=await _actor(kc, "summarizer"), actor_token_type=ACCESS)
    assert r.status_code == 403 and r.json()["error"] == "access_denied"


async def test_a_chain_deeper_than_allowed_is_refused(tmp_path):
    # Give the summarizer's task token a may_act naming the agent, so that nothing but the
    # depth rule stands in the way of a third actor.
    data = json.loads(DEFAULT_REALM_FILE.read_text())
    summarizer = next(c for c in data["clients"] if c["clientId"] == "summarizer")
    summarizer["protocolMappers"].append({
        "name": "may_act agent", "protocol": "openid-connect",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {"claim.name": "may_act",
                   "claim.value": json.dumps({"sub": AGENT_SA, "client_id": "agent"}),
                   "jsonType.label": "JSON", "access.token.claim": "true"}})
    path = tmp_path / "realm.json"
    path.write_text(json.dumps(data))
    async with IdPTestClient.embedded(str(path)) as kc:
        hand_off = (await _hand_off(kc)).json()["access_token"]
        task = (await _task_token(kc, hand_off)).json()["access_token"]
        assert claims_of(task)["may_act"]["client_id"] == "agent"
        r = await kc.exchange(task, audience="records-service",
                              actor_token=await _actor(kc, "agent"), actor_token_type=ACCESS)
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("Delegation chain too deep: agent <- "
                                                    "summarizer <- agent names 3 actors")


async def test_without_a_new_actor_the_chain_is_kept(kc):
    hand_off = (await _hand_off(kc)).json()["access_token"]
    task = (await _task_token(kc, hand_off)).json()["access_token"]
    r = await kc.exchange(task, audience="records-service", scope="acme:read")
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["act"]["client_id"] == "summarizer"
    assert claims["act"]["act"]["client_id"] == "agent"
    assert claims["azp"] == "mcp-server" and "acme:write" not in claims["scope"].split()
    assert "kept the subject's delegation chain summarizer <- agent" in r.headers[
        EXPLANATION_HEADER]


async def test_a_plain_exchange_says_nothing_about_delegation(kc):
    r = await kc.exchange(await kc.login("alice"), audience="records-service")
    assert r.status_code == 200 and EXPLANATION_HEADER not in r.headers
