"""Embedded IdP: RFC 8693 token exchange with Keycloak 26 Standard Token Exchange v2 rules."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from stack.idp import DEFAULT_REALM_FILE
from stack.idp.testing import IdPTestClient, claims_of

ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"
AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"


def variant(tmp_path, change) -> str:
    data = json.loads(DEFAULT_REALM_FILE.read_text())
    change({c["clientId"]: c for c in data["clients"]}, data)
    path = tmp_path / "realm.json"
    path.write_text(json.dumps(data))
    return str(path)


def refused(r, status: int, error: str, description: str | None = None) -> bool:
    body = r.json()
    ok = r.status_code == status and body["error"] == error
    return ok and (description is None or body.get("error_description") == description)


async def test_exchange_narrows_the_audience_to_one_service(kc):
    r = await kc.exchange(await kc.login("alice"), audience="records-service")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["aud"] == "records-service" and claims["azp"] == "mcp-server"
    assert claims["sub"] == ALICE and claims["preferred_username"] == "alice"
    assert (claims["role"], claims["department"], claims["reports_to"]) == (
        "admin",
        "engineering",
        "bob",
    )
    assert "act" not in claims


async def test_exchanged_token_is_a_real_access_token(kc):
    r = await kc.exchange(await kc.login("bob"), audience="directory-service", scope="openid")
    token = r.json()["access_token"]
    r = await kc.http.get(
        kc.path("protocol/openid-connect/userinfo"), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.json()["preferred_username"] == "bob"


async def test_access_token_jti_prefixes_follow_keycloak(kc):
    user = await kc.login("alice")
    agent = (await kc.client_credentials("agent")).json()["access_token"]
    exchanged = (await kc.exchange(user)).json()["access_token"]
    from_agent = (await kc.exchange(agent)).json()["access_token"]
    prefixes = [claims_of(t)["jti"].split(":")[0] for t in (user, agent, exchanged, from_agent)]
    assert prefixes == ["onrtac", "trrtcc", "ntrtte", "trrtte"]  # onrtac: authorization code
    assert "sid" not in claims_of(from_agent) and claims_of(from_agent)["sub"] == AGENT_SA


async def test_an_id_token_can_be_requested(kc):
    r = await kc.exchange(
        await kc.login("alice"),
        requested_token_type="urn:ietf:params:oauth:token-type:id_token",
    )
    assert r.status_code == 200 and r.json()["token_type"] == "N_A"
    assert r.json()["issued_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert claims_of(r.json()["access_token"])["typ"] == "ID"


async def test_the_requester_may_re_exchange_a_token_it_is_azp_of(kc):
    first = (await kc.exchange(await kc.login("alice"), audience="records-service")).json()
    r = await kc.exchange(first["access_token"], audience="directory-service")
    assert r.status_code == 200
    assert claims_of(r.json()["access_token"])["aud"] == "directory-service"


async def test_without_audience_the_requester_gets_all_its_mapped_audiences(kc):
    claims = claims_of((await kc.exchange(await kc.login("alice"))).json()["access_token"])
    assert set(claims["aud"]) == {"records-service", "directory-service", "knowledge-service"}


async def test_repeated_audience_parameters_keep_both(kc):
    r = await kc.exchange(
        await kc.login("alice"), audience=["records-service", "directory-service"]
    )
    assert sorted(claims_of(r.json()["access_token"])["aud"]) == [
        "directory-service",
        "records-service",
    ]


async def test_an_unknown_audience_is_refused(kc):
    r = await kc.exchange(await kc.login("alice"), audience="payroll-service")
    assert refused(r, 400, "invalid_client", "Audience not found")


@pytest.mark.parametrize("audience", ["mcp-server", "explorer-cli", "agent"])
async def test_an_audience_the_requester_cannot_grant_is_refused_no_upscoping(kc, audience):
    r = await kc.exchange(await kc.login("alice"), audience=audience)
    assert refused(r, 400, "invalid_request", f"Requested audience not available: {audience}")


async def test_one_unavailable_audience_among_several_fails_the_whole_request(kc):
    r = await kc.exchange(await kc.login("alice"), audience=["records-service", "mcp-server"])
    assert refused(r, 400, "invalid_request", "Requested audience not available: mcp-server")


async def test_a_requester_outside_the_subject_audience_is_refused(kc):
    # the agent may exchange (it hands tasks to sub-agents), but only a token whose `aud`
    # names it: one the user asked for with the scope agent:delegate
    r = await kc.exchange(await kc.login("alice"), client_id="agent")
    assert refused(r, 403, "access_denied", "Client is not within the token audience")


async def test_a_client_without_standard_token_exchange_is_refused(tmp_path):
    def change(clients, _data):
        clients["agent"]["attributes"]["standard.token.exchange.enabled"] = "false"

    async with IdPTestClient.embedded(variant(tmp_path, change)) as kc:
        r = await kc.exchange(await kc.login("alice"), client_id="agent")
    assert refused(
        r, 400, "invalid_request", "Standard token exchange is not enabled for the requested client"
    )


async def test_a_public_client_cannot_exchange(kc, tmp_path):
    r = await kc.exchange(await kc.login("alice"), client_id="explorer-cli")
    assert r.status_code == 400

    def change(clients, _data):
        clients["explorer-cli"]["attributes"]["standard.token.exchange.enabled"] = "true"

    async with IdPTestClient.embedded(variant(tmp_path, change)) as kc2:
        r = await kc2.exchange(await kc2.login("alice"), client_id="explorer-cli")
    assert refused(r, 400, "invalid_client", "Public client is not allowed to exchange token")


async def test_a_wrong_requester_secret_is_refused(kc):
    r = await kc.exchange(await kc.login("alice"), secret="guess")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized_client"


async def test_a_refresh_token_as_subject_is_refused(kc):
    refresh = (await kc.code_flow("alice")).json()["refresh_token"]
    assert refused(await kc.exchange(refresh), 400, "invalid_request", "Invalid token")
    r = await kc.exchange(refresh, subject_token_type=REFRESH_TYPE)
    assert refused(
        r, 400, "invalid_request", "Parameter 'subject_token' supports access tokens only"
    )


async def test_an_id_token_as_subject_is_refused(kc):
    id_token = (await kc.code_flow("alice", scope="openid")).json()["id_token"]
    assert refused(await kc.exchange(id_token), 400, "invalid_request", "Invalid token")


async def test_an_expired_subject_token_is_refused(kc, clock):
    token = await kc.login("alice")
    clock.advance(301)
    assert refused(await kc.exchange(token), 400, "invalid_request", "Invalid token")


async def test_a_tampered_subject_token_is_refused(kc):
    head, body, sig = (await kc.login("dave")).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refused(
        await kc.exchange(f"{head}.{forged}.{sig}"), 400, "invalid_request", "Invalid token"
    )


async def test_a_token_from_another_issuer_is_refused(kc):
    async with IdPTestClient.embedded(base_url="http://evil.test") as other:
        foreign = await other.login("alice")
    assert refused(await kc.exchange(foreign), 400, "invalid_request", "Invalid token")


async def test_a_self_signed_token_is_refused(kc):
    from stack.jose import generate_rsa_key

    claims = claims_of(await kc.login("alice"))
    forged = jwt.encode(claims, generate_rsa_key(), algorithm="RS256", headers={"kid": "x"})
    assert refused(await kc.exchange(forged), 400, "invalid_request", "Invalid token")


@pytest.mark.parametrize("missing", ["subject_token", "subject_token_type"])
async def test_missing_subject_parameters_are_invalid_request(kc, missing):
    token = await kc.login("alice")
    if missing == "subject_token":
        r = await kc.exchange("")
    else:
        r = await kc.exchange(token, subject_token_type="")
    assert r.status_code == 400 and missing in r.json()["error_description"]


async def test_a_refresh_token_cannot_be_requested(kc):
    r = await kc.exchange(await kc.login("alice"), requested_token_type=REFRESH_TYPE)
    assert refused(r, 400, "invalid_request", "requested_token_type unsupported")


async def test_scope_cannot_add_an_unknown_scope(kc):
    r = await kc.exchange(await kc.login("alice"), scope="phone")
    assert refused(r, 400, "invalid_scope", "Invalid scopes: phone")


async def test_scope_cannot_add_a_scope_the_subject_token_lacks(tmp_path):
    def change(clients, data):
        data["clientScopes"].append(
            {
                "name": "admin-api",
                "protocol": "openid-connect",
                "attributes": {"include.in.token.scope": "true"},
            }
        )
        clients["mcp-server"]["optionalClientScopes"] = ["admin-api"]

    async with IdPTestClient.embedded(variant(tmp_path, change)) as kc:
        r = await kc.exchange(await kc.login("alice"), scope="admin-api")
    assert refused(r, 400, "invalid_scope", "Invalid scopes: admin-api")


async def test_delegation_adds_the_rfc8693_act_claim(kc):
    actor = (await kc.client_credentials("agent")).json()["access_token"]
    r = await kc.exchange(
        await kc.login("bob"),
        audience="records-service",
        actor_token=actor,
        actor_token_type="urn:ietf:params:oauth:token-type:access_token",
    )
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["act"] == {"sub": AGENT_SA, "client_id": "agent"}
    assert claims["sub"] != AGENT_SA and claims["preferred_username"] == "bob"
    assert claims["azp"] == "mcp-server" and claims["aud"] == "records-service"


def _may_act_mapper(value: dict) -> dict:
    return {"name": "may_act", "protocol": "openid-connect",
            "protocolMapper": "oidc-hardcoded-claim-mapper",
            "config": {"claim.name": "may_act", "claim.value": json.dumps(value),
                       "jsonType.label": "JSON", "access.token.claim": "true"}}


def _without_may_act(clients, _data) -> None:
    cli = clients["explorer-cli"]
    cli["protocolMappers"] = [m for m in cli["protocolMappers"] if m["name"] != "may_act agent"]


async def test_a_second_delegation_nests_the_earlier_actor(tmp_path):
    def may_act_again(clients, data):   # the first delegated token allows the agent again
        clients["mcp-server"]["protocolMappers"].append(
            _may_act_mapper({"sub": AGENT_SA, "client_id": "agent"}))

    async with IdPTestClient.embedded(variant(tmp_path, may_act_again)) as kc:
        actor = (await kc.client_credentials("agent")).json()["access_token"]
        kind = "urn:ietf:params:oauth:token-type:access_token"
        first = (
            await kc.exchange(await kc.login("bob"), actor_token=actor, actor_token_type=kind)
        ).json()["access_token"]
        r = await kc.exchange(
            first, audience="records-service", actor_token=actor, actor_token_type=kind
        )
    act = claims_of(r.json()["access_token"])["act"]
    assert act["sub"] == AGENT_SA and act["act"] == {"sub": AGENT_SA, "client_id": "agent"}


async def test_the_users_token_names_who_may_act_for_them(kc):
    claims = claims_of(await kc.login("alice"))
    assert claims["may_act"] == {"sub": AGENT_SA, "client_id": "agent"}


async def test_the_mcp_server_cannot_name_itself_actor(kc):
    own = (await kc.client_credentials("mcp-server")).json()["access_token"]
    r = await kc.exchange(
        await kc.login("alice"), actor_token=own,
        actor_token_type="urn:ietf:params:oauth:token-type:access_token")
    assert refused(r, 400, "invalid_request")
    assert "not allowed to act for the subject (may_act" in r.json()["error_description"]


async def test_without_may_act_nobody_may_act_for_the_user(tmp_path):
    async with IdPTestClient.embedded(variant(tmp_path, _without_may_act)) as kc:
        actor = (await kc.client_credentials("agent")).json()["access_token"]
        r = await kc.exchange(
            await kc.login("alice"), actor_token=actor,
            actor_token_type="urn:ietf:params:oauth:token-type:access_token")
        plain = await kc.exchange(await kc.login("alice"))
    assert refused(r, 400, "invalid_request") and "may_act" in r.json()["error_description"]
    assert plain.status_code == 200     # impersonation (no actor) is not delegation


@pytest.mark.parametrize("may_act", [
    {"sub": "someone-else"}, {"client_id": "mcp-server"},
    {"sub": AGENT_SA, "client_id": "mcp-server"}, {}, {"iss": "x"},
])
async def test_a_may_act_that_names_someone_else_refuses_the_agent(tmp_path, may_act):
    def change(clients, data):
        _without_may_act(clients, data)
        clients["explorer-cli"]["protocolMappers"].append(_may_act_mapper(may_act))

    async with IdPTestClient.embedded(variant(tmp_path, change)) as kc:
        actor = (await kc.client_credentials("agent")).json()["access_token"]
        r = await kc.exchange(
            await kc.login("alice"), actor_token=actor,
            actor_token_type="urn:ietf:params:oauth:token-type:access_token")
    assert refused(r, 400, "invalid_request") and "may_act" in r.json()["error_description"]


async def test_a_user_token_is_not_accepted_as_actor(kc):
    user = await kc.login("alice")
    r = await kc.exchange(
        await kc.login("bob"),
        actor_token=user,
        actor_token_type="urn:ietf:params:oauth:token-type:access_token",
    )
    assert refused(r, 400, "invalid_request", "Actor token must be a client credentials token")


async def test_a_bad_actor_token_or_type_is_refused(kc):
    subject = await kc.login("bob")
    actor = (await kc.client_credentials("agent")).json()["access_token"]
    r = await kc.exchange(
        subject,
        actor_token="garbage",
        actor_token_type="urn:ietf:params:oauth:token-type:access_token",
    )
    assert refused(r, 400, "invalid_request", "Invalid actor token")
    r = await kc.exchange(subject, actor_token=actor)
    assert r.status_code == 400 and "actor_token_type" in r.json()["error_description"]


async def test_an_expired_actor_token_is_refused(kc, clock):
    actor = (await kc.client_credentials("agent")).json()["access_token"]
    clock.advance(290)
    subject = await kc.login("bob")
    clock.advance(20)
    r = await kc.exchange(
        subject, actor_token=actor, actor_token_type="urn:ietf:params:oauth:token-type:access_token"
    )
    assert refused(r, 400, "invalid_request", "Invalid actor token")
