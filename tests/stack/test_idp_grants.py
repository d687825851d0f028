"""Embedded IdP: password, client_credentials and refresh grants, and their Keycloak errors.

The realm refuses the password grant (RFC 9700 section 2.4); its error paths are still
checked, on a copy of the realm whose explorer-cli allows direct access grants (`ropc`).
"""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from stack.idp import DEFAULT_REALM_FILE
from stack.idp.testing import IdPTestClient, claims_of

ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"
AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
BAD_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}
BAD_SECRET = {
    "error": "unauthorized_client",
    "error_description": "Invalid client or Invalid client credentials",
}


def realm_variant(tmp_path, change) -> str:
    data = json.loads(DEFAULT_REALM_FILE.read_text())
    change({c["clientId"]: c for c in data["clients"]})
    path = tmp_path / "realm.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
async def ropc(tmp_path, clock):
    """An IdP whose explorer-cli still allows the password grant (the realm file's does not)."""

    def change(clients):
        clients["explorer-cli"]["directAccessGrantsEnabled"] = True

    async with IdPTestClient.embedded(realm_variant(tmp_path, change), clock) as kc:
        yield kc


async def verify_with_jwks(kc: IdPTestClient, token: str, audience: str) -> dict:
    jwks = (await kc.http.get(kc.path("protocol/openid-connect/certs"))).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=kc.issuer)


async def test_the_realm_refuses_the_password_grant_like_keycloak(kc):
    # RFC 9700 section 2.4: the resource owner password credentials grant MUST NOT be used
    r = await kc.password("alice")
    assert r.status_code == 400
    assert r.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }


async def test_password_grant_answers_like_keycloak_where_a_client_allows_it(ropc):
    r = await ropc.password("alice")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_expires_in"] > 0 and body["refresh_token"]
    assert body["not-before-policy"] == 0 and set(body["scope"].split()) == {"profile", "email"}
    assert r.headers["cache-control"] == "no-store"
    claims = claims_of(body["access_token"])
    assert claims["sid"] == body["session_state"] and claims["jti"].startswith("onrtro:")
    assert set(claims["aud"]) == {"records-service", "directory-service", "knowledge-service"}


async def test_the_login_access_token_has_the_contract_claims(kc):
    claims = claims_of(await kc.login("alice"))
    assert claims["iss"] == kc.issuer and claims["sub"] == ALICE
    assert set(claims["aud"]) == {"mcp-server", "records-service", "directory-service",
                                 "knowledge-service"}
    assert claims["azp"] == "explorer-cli" and claims["typ"] == "Bearer"
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    assert (claims["preferred_username"], claims["role"], claims["department"]) == (
        "alice",
        "admin",
        "engineering",
    )
    assert claims["reports_to"] == "bob" and claims["email"] == "alice@acme.example"
    assert claims["may_act"] == {"sub": AGENT_SA, "client_id": "agent"}
    assert "act" not in claims and "cnf" not in claims


async def test_reports_to_is_absent_when_the_user_has_none(kc):
    claims = claims_of(await kc.login("bob"))
    assert claims["role"] == "user" and "reports_to" not in claims


async def test_issued_tokens_verify_against_the_jwks_with_pinned_rs256(kc):
    token = await kc.login("dave")
    claims = await verify_with_jwks(kc, token, "records-service")
    assert claims["role"] == "readonly"
    with pytest.raises(jwt.InvalidAudienceError):
        await verify_with_jwks(kc, token, "agent")


async def test_jwks_publishes_rs256_signing_keys_with_kid(kc):
    r = await kc.http.get(kc.path("protocol/openid-connect/certs"))
    (key,) = r.json()["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256" and key["kid"]
    assert not {"d", "p", "q"} & key.keys()


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("nobody", "x"), ("alice", "")])
async def test_wrong_credentials_are_invalid_grant_400_like_keycloak_26_7(ropc, user, password):
    r = await ropc.password(user, password)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Invalid user credentials"}


async def test_missing_username_is_refused(ropc):
    r = await ropc.token({"grant_type": "password", "client_id": "explorer-cli", "password": "x"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_request"


async def test_service_accounts_cannot_log_in_with_a_password(ropc):
    r = await ropc.password("service-account-agent", "")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_unknown_client_is_invalid_client_401(kc):
    r = await kc.password("alice", client_id="no-such-client")
    assert r.status_code == 401 and r.json() == BAD_CLIENT


async def test_wrong_client_secret_is_refused_401(kc):
    r = await kc.client_credentials("agent", secret="nope")
    assert r.status_code == 401 and r.json() == BAD_SECRET


async def test_a_confidential_client_without_a_secret_is_refused(kc):
    r = await kc.token({"grant_type": "client_credentials", "client_id": "agent"})
    assert r.status_code == 401 and r.json() == BAD_SECRET


async def test_missing_client_id_is_refused(kc):
    r = await kc.token({"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json() == BAD_CLIENT


async def test_client_secret_basic_authenticates(kc):
    basic = base64.b64encode(b"agent:agent-secret").decode()
    r = await kc.token(
        {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert r.status_code == 200 and claims_of(r.json()["access_token"])["azp"] == "agent"


async def test_client_secret_basic_with_a_wrong_secret_is_refused(kc):
    basic = base64.b64encode(b"agent:nope").decode()
    r = await kc.token(
        {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert r.status_code == 401 and r.json() == BAD_SECRET


async def test_client_without_direct_access_grants_cannot_use_password(kc):
    r = await kc.password("alice", client_id="mcp-server", client_secret="mcp-server-secret")
    assert r.status_code == 400
    assert r.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }


async def test_unsupported_and_missing_grant_types(kc):
    r = await kc.token({"grant_type": "implicit", "client_id": "explorer-cli"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = await kc.token({"client_id": "explorer-cli"})
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request",
        "error_description": "Missing form parameter: grant_type",
    }


async def test_an_unknown_scope_is_invalid_scope(ropc):
    r = await ropc.password("alice", scope="admin-everything")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_client_credentials_gives_the_service_account_token(kc):
    r = await kc.client_credentials("agent")
    assert r.status_code == 200
    body = r.json()
    assert "refresh_token" not in body and body["refresh_expires_in"] == 0
    assert "session_state" not in body
    claims = claims_of(body["access_token"])
    assert claims["sub"] == AGENT_SA and claims["azp"] == "agent" and claims["aud"] == "mcp-server"
    assert claims["preferred_username"] == "service-account-agent" and "sid" not in claims


async def test_public_client_cannot_use_client_credentials(kc):
    r = await kc.token({"grant_type": "client_credentials", "client_id": "explorer-cli"})
    assert r.status_code == 401 and r.json() == {
        "error": "unauthorized_client",
        "error_description": "Public client not allowed to retrieve service account",
    }


async def test_client_without_service_account_cannot_use_client_credentials(tmp_path):
    def change(clients):
        clients["agent"]["serviceAccountsEnabled"] = False

    async with IdPTestClient.embedded(realm_variant(tmp_path, change)) as kc:
        r = await kc.client_credentials("agent")
    assert r.status_code == 400
    assert r.json()["error_description"] == "Client not enabled to retrieve service account"


async def test_openid_scope_adds_an_id_token_that_is_never_an_access_token(kc):
    r = await kc.code_flow("alice", scope="openid")
    id_token = r.json()["id_token"]
    claims = claims_of(id_token)
    assert claims["typ"] == "ID" and claims["aud"] == "explorer-cli" and claims["sub"] == ALICE
    assert "openid" in r.json()["scope"].split()
    r = await kc.http.get(
        kc.path("protocol/openid-connect/userinfo"), headers={"Authorization": f"Bearer {id_token}"}
    )
    assert r.status_code == 401


async def test_refresh_token_grant_issues_fresh_tokens(kc, clock):
    first = (await kc.code_flow("alice")).json()
    refresh = first["refresh_token"]
    assert (
        claims_of(refresh)["typ"] == "Refresh"
        and jwt.get_unverified_header(refresh)["alg"] == "HS512"
    )
    clock.advance(10)
    r = await kc.token(
        {"grant_type": "refresh_token", "client_id": "explorer-cli", "refresh_token": refresh}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["access_token"] != first["access_token"] and body["refresh_token"]
    assert claims_of(body["access_token"])["sid"] == first["session_state"]


async def test_refresh_token_is_not_an_access_token(kc):
    refresh = (await kc.code_flow("alice")).json()["refresh_token"]
    r = await kc.http.get(
        kc.path("protocol/openid-connect/userinfo"), headers={"Authorization": f"Bearer {refresh}"}
    )
    assert r.status_code == 401


async def test_refresh_token_of_another_client_is_refused(kc):
    refresh = (await kc.code_flow("alice")).json()["refresh_token"]
    r = await kc.token(
        {
            "grant_type": "refresh_token",
            "client_id": "agent",
            "client_secret": "agent-secret",
            "refresh_token": refresh,
        }
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_a_bad_refresh_token_is_invalid_grant(kc, token):
    r = await kc.token(
        {"grant_type": "refresh_token", "client_id": "explorer-cli", "refresh_token": token}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}


async def test_a_missing_refresh_token_is_invalid_request(kc):
    r = await kc.token({"grant_type": "refresh_token", "client_id": "explorer-cli"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "error_description": "No refresh token"}


async def test_refresh_fails_after_the_session_idle_timeout(kc, clock):
    refresh = (await kc.code_flow("alice")).json()["refresh_token"]
    clock.advance(1801)
    r = await kc.token(
        {"grant_type": "refresh_token", "client_id": "explorer-cli", "refresh_token": refresh}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_access_tokens_expire_with_the_clock(kc, clock):
    token = await kc.login("alice", scope="openid")
    userinfo = kc.path("protocol/openid-connect/userinfo")
    assert (
        await kc.http.get(userinfo, headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    clock.advance(301)
    r = await kc.http.get(userinfo, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_tokens_signed_by_another_idp_are_not_accepted(kc):
    async with IdPTestClient.embedded() as other:  # same issuer URL, different keys
        foreign = await other.login("alice", scope="openid")
    r = await kc.http.get(
        kc.path("protocol/openid-connect/userinfo"), headers={"Authorization": f"Bearer {foreign}"}
    )
    assert r.status_code == 401
