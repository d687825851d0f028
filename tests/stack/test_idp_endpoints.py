"""Embedded IdP: discovery, JWKS and key rotation, userinfo, introspection, unknown realm."""

from __future__ import annotations

import jwt
import pytest

from stack.idp.testing import IdPTestClient, claims_of

ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_discovery_document_points_at_every_endpoint(kc):
    r = await kc.http.get(kc.path(".well-known/openid-configuration"))
    assert r.status_code == 200
    doc = r.json()
    oidc = f"{kc.issuer}/protocol/openid-connect"
    assert doc["issuer"] == kc.issuer
    assert doc["token_endpoint"] == f"{oidc}/token" and doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert doc["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in doc["grant_types_supported"]
    assert {"password", "client_credentials", "refresh_token"} <= set(doc["grant_types_supported"])
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    assert "none" not in doc["dpop_signing_alg_values_supported"]


@pytest.mark.parametrize(
    "suffix",
    [".well-known/openid-configuration", "protocol/openid-connect/certs", ""],
)
async def test_an_unknown_realm_is_404_realm_does_not_exist(kc, suffix):
    r = await kc.http.get(f"/realms/elsewhere/{suffix}".rstrip("/"))
    assert r.status_code == 404 and r.json()["error"] == "Realm does not exist"


async def test_token_endpoint_of_an_unknown_realm_is_404(kc):
    r = await kc.http.post(
        "/realms/elsewhere/protocol/openid-connect/token", data={"grant_type": "password"}
    )
    assert r.status_code == 404 and r.json()["error"] == "Realm does not exist"


async def test_realm_info_publishes_the_active_public_key(kc):
    r = await kc.http.get("/realms/agentauth")
    assert r.status_code == 200 and r.json()["realm"] == "agentauth"
    assert r.json()["public_key"].startswith("MII")


async def test_rotation_publishes_a_new_kid_and_keeps_the_old_one_for_a_while(kc, clock):
    before = await kc.login("alice", scope="openid")
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = kc.idp.rotate_key()
    assert new_kid != old_kid
    kids = [
        k["kid"]
        for k in (await kc.http.get(kc.path("protocol/openid-connect/certs"))).json()["keys"]
    ]
    assert kids == [new_kid, old_kid]
    after = await kc.login("alice")
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    # tokens signed before the rotation still work while the old key is published
    assert (
        await kc.http.get(kc.path("protocol/openid-connect/userinfo"), headers=auth(before))
    ).status_code == 200
    clock.advance(3601)
    kids = [
        k["kid"]
        for k in (await kc.http.get(kc.path("protocol/openid-connect/certs"))).json()["keys"]
    ]
    assert kids == [new_kid]


async def test_userinfo_returns_the_mapped_user_claims(kc):
    token = await kc.login("alice", scope="openid")
    r = await kc.http.get(kc.path("protocol/openid-connect/userinfo"), headers=auth(token))
    assert r.status_code == 200
    info = r.json()
    assert info["sub"] == ALICE and info["preferred_username"] == "alice"
    assert info["role"] == "admin" and info["reports_to"] == "bob"


async def test_userinfo_accepts_post_too(kc):
    token = await kc.login("bob", scope="openid")
    r = await kc.http.post(kc.path("protocol/openid-connect/userinfo"), headers=auth(token))
    assert r.status_code == 200 and r.json()["preferred_username"] == "bob"


async def test_userinfo_needs_the_openid_scope_like_keycloak(kc):
    r = await kc.http.get(
        kc.path("protocol/openid-connect/userinfo"), headers=auth(await kc.login(scope="mcp:tools"))
    )
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == (
        'Bearer realm="agentauth", error="insufficient_scope", '
        'error_description="Missing openid scope"'
    )


async def test_userinfo_without_a_token_is_401_with_a_bare_challenge(kc):
    r = await kc.http.get(kc.path("protocol/openid-connect/userinfo"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="agentauth"'
    assert r.content == b""


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_userinfo_with_a_bad_token_is_401_invalid_token(kc, token):
    r = await kc.http.get(kc.path("protocol/openid-connect/userinfo"), headers=auth(token))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == (
        'Bearer realm="agentauth", error="invalid_token", '
        'error_description="Token verification failed"'
    )


async def test_userinfo_refuses_an_unsigned_copy_of_a_real_token(kc):
    head, body, _sig = (await kc.login("alice", scope="openid")).split(".")
    none_head = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    for forged in (f"{none_head}.{body}.", f"{head}.{body}."):
        r = await kc.http.get(kc.path("protocol/openid-connect/userinfo"), headers=auth(forged))
        assert r.status_code == 401


async def introspect(kc, token: str, client_id="mcp-server", secret="mcp-server-secret"):
    return await kc.http.post(
        kc.path("protocol/openid-connect/token/introspect"),
        data={"token": token, "client_id": client_id, "client_secret": secret},
    )


async def test_introspection_reports_an_active_token_with_its_claims(kc):
    r = await introspect(kc, await kc.login("alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["active"] is True and body["sub"] == ALICE
    assert body["client_id"] == "explorer-cli" and body["username"] == "alice"
    assert body["token_type"] == "Bearer"


async def test_introspection_reports_expired_and_garbage_tokens_inactive(kc, clock):
    token = await kc.login("alice")
    clock.advance(301)
    assert (await introspect(kc, token)).json() == {"active": False}
    assert (await introspect(kc, "garbage")).json() == {"active": False}


async def test_introspection_reports_id_and_refresh_tokens_inactive(kc):
    body = (await kc.code_flow("alice", scope="openid")).json()
    assert (await introspect(kc, body["id_token"])).json() == {"active": False}
    assert (await introspect(kc, body["refresh_token"])).json() == {"active": False}


async def test_introspection_answers_only_an_audience_of_the_token(kc):
    exchanged = (await kc.exchange(await kc.login("alice"), audience="records-service")).json()
    # mcp-server obtained it but is not in its aud (records-service): Keycloak says inactive
    assert (await introspect(kc, exchanged["access_token"])).json() == {"active": False}
    agent = (await kc.client_credentials("agent")).json()["access_token"]
    assert (await introspect(kc, agent)).json()["active"] is True  # aud: mcp-server


async def test_introspection_needs_an_authenticated_confidential_client(kc):
    token = await kc.login("alice")
    r = await introspect(kc, token, secret="wrong")
    assert r.status_code == 401
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    r = await kc.http.post(
        kc.path("protocol/openid-connect/token/introspect"),
        data={"token": token, "client_id": "explorer-cli"},
    )
    assert r.status_code == 403
    assert r.json() == {"error": "invalid_request", "error_description": "Client not allowed."}


async def test_introspection_without_a_token_is_400(kc):
    r = await kc.http.post(
        kc.path("protocol/openid-connect/token/introspect"),
        data={"client_id": "mcp-server", "client_secret": "mcp-server-secret"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_the_issuer_follows_the_url_the_idp_is_reached_at():
    async with IdPTestClient.embedded(base_url="http://other.host:9999") as kc:
        token = await kc.login("alice")
    assert claims_of(token)["iss"] == "http://other.host:9999/realms/agentauth"


INSPECTOR = "http://localhost:6274"   # the MCP Inspector's UI runs the OAuth flow in the page


@pytest.mark.parametrize("path", [".well-known/openid-configuration",
                                  "clients-registrations/openid-connect",
                                  "protocol/openid-connect/token"])
async def test_a_browser_client_on_loopback_may_discover_register_and_redeem(kc, path):
    r = await kc.http.options(kc.path(path), headers={
        "Origin": INSPECTOR, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == INSPECTOR
    r = await kc.http.get(kc.path(".well-known/openid-configuration"),
                          headers={"Origin": INSPECTOR})
    assert r.headers["access-control-allow-origin"] == INSPECTOR
    assert "access-control-allow-credentials" not in r.headers


async def test_a_page_from_elsewhere_gets_no_cors_answer_from_the_idp(kc):
    r = await kc.http.options(kc.path("clients-registrations/openid-connect"), headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = await kc.http.get(kc.path(".well-known/openid-configuration"),
                          headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
