"""The IdP contract, over HTTP only: true of Keycloak 26 (AGENT_AUTH_STACK=external) and of
the embedded IdP alike. Names and shapes come from docs/contracts.md.

Users log in with the authorization code flow and PKCE S256 at the IdP's own login form,
played by stack.browser; the password grant is refused (RFC 9700 section 2.4).
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from mcp.client.auth.oauth2 import PKCEParameters
from mcp.client.auth.utils import validate_metadata_issuer
from mcp.shared.auth import OAuthMetadata

from stack.browser import AuthorizationResponse, LoginFailed, log_in
from stack.jose import create_proof, generate_ec_key, jwk_thumbprint, public_jwk

EXTERNAL = os.environ.get("AGENT_AUTH_STACK") == "external"
REALM = "agentauth"
ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"
AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
REDIRECT = "http://127.0.0.1/callback"
MCP_TOOLS = "openid mcp:tools"
TOOL_AUDIENCES = {"records-service", "directory-service", "knowledge-service"}


class Idp:
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.issuer = f"{url}/realms/{REALM}"
        self.oidc = f"{self.issuer}/protocol/openid-connect"
        self.http = http

    async def token(self, data: dict[str, Any], **kw: Any) -> httpx.Response:
        return await self.http.post(f"{self.oidc}/token", data=data, **kw)

    async def authorize(
        self, user: str = "alice", password: str | None = None, **params: str | None
    ) -> tuple[AuthorizationResponse, PKCEParameters]:
        """The user logs in at the IdP's form (stack.browser): the code, and the PKCE pair."""
        pkce = PKCEParameters.generate()
        query = {
            "response_type": "code",
            "client_id": "explorer-cli",
            "redirect_uri": REDIRECT,
            "scope": MCP_TOOLS,
            "state": f"state-{time.monotonic_ns()}",
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
            **params,
        }
        url = f"{self.oidc}/auth?{urlencode({k: v for k, v in query.items() if v is not None})}"
        secret = f"{user}-pass" if password is None else password
        return await log_in(self.http, url, user, secret), pkce

    async def redeem(self, code: str, verifier: str | None, **extra: Any) -> httpx.Response:
        headers = extra.pop("headers", None)
        data = {
            "grant_type": "authorization_code",
            "client_id": "explorer-cli",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            **extra,
        }
        return await self.token({k: v for k, v in data.items() if v is not None}, headers=headers)

    async def login(
        self, user: str = "alice", headers: dict[str, str] | None = None, **params: str | None
    ) -> httpx.Response:
        """The token response of a code flow login."""
        response, pkce = await self.authorize(user, **params)
        return await self.redeem(response.code, pkce.code_verifier, headers=headers)

    async def user_token(self, user: str = "alice", scope: str = MCP_TOOLS) -> str:
        r = await self.login(user, scope=scope)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    async def exchange(
        self,
        subject: str,
        client_id: str = "mcp-server",
        secret: str | None = "mcp-server-secret",
        **extra: Any,
    ) -> httpx.Response:
        data = {
            "grant_type": EXCHANGE,
            "client_id": client_id,
            "subject_token": subject,
            "subject_token_type": ACCESS,
            **extra,
        }
        if secret is not None:
            data["client_secret"] = secret
        return await self.token(data)

    async def verify(self, token: str, audience: str) -> dict[str, Any]:
        jwks = (await self.http.get(f"{self.oidc}/certs")).json()
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=self.issuer)


@pytest.fixture
async def idp(idp_url: str):
    async with httpx.AsyncClient(timeout=15) as http:
        yield Idp(idp_url, http)


def auds(claims: dict[str, Any]) -> set[str]:
    aud = claims.get("aud", [])
    return {aud} if isinstance(aud, str) else set(aud)


async def test_discovery_describes_the_realm(idp):
    doc = (await idp.http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
    assert doc["issuer"] == idp.issuer
    assert doc["authorization_endpoint"] == f"{idp.oidc}/auth"
    assert doc["token_endpoint"] == f"{idp.oidc}/token"
    assert doc["jwks_uri"] == f"{idp.oidc}/certs"
    assert doc["userinfo_endpoint"] == f"{idp.oidc}/userinfo"
    assert doc["introspection_endpoint"] == f"{idp.oidc}/token/introspect"
    assert {"authorization_code", "client_credentials", "refresh_token", EXCHANGE} <= set(
        doc["grant_types_supported"]
    )
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    assert "code" in doc["response_types_supported"]
    assert "S256" in doc["code_challenge_methods_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True


async def test_rfc_8414_metadata_is_served_where_the_mcp_sdk_looks_first(idp):
    base = idp.issuer.removesuffix(f"/realms/{REALM}")
    oidc = (await idp.http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
    r = await idp.http.get(f"{base}/.well-known/oauth-authorization-server/realms/{REALM}")
    assert r.status_code == 200 and r.json() == oidc
    metadata = OAuthMetadata.model_validate(r.json())  # as the MCP client reads it
    validate_metadata_issuer(metadata, idp.issuer)
    assert metadata.authorization_response_iss_parameter_supported
    r = await idp.http.get(f"{base}/.well-known/openid-configuration/realms/{REALM}")
    assert r.status_code == 404


async def test_unknown_realm_is_404(idp):
    r = await idp.http.get(
        idp.issuer.replace(REALM, "no-such-realm") + "/.well-known/openid-configuration"
    )
    assert r.status_code == 404 and r.json()["error"] == "Realm does not exist"


async def test_jwks_has_an_rs256_signing_key_with_a_kid(idp):
    keys = (await idp.http.get(f"{idp.oidc}/certs")).json()["keys"]
    signing = [k for k in keys if k.get("use") == "sig" and k.get("alg") == "RS256"]
    assert signing and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in signing)


async def test_a_code_flow_login_gives_a_token_with_the_contract_claims(idp):
    response, pkce = await idp.authorize("alice")
    assert response.iss == idp.issuer  # RFC 9207
    r = await idp.redeem(response.code, pkce.code_verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_token"] and body["id_token"]
    assert set(body["scope"].split()) == {"openid", "profile", "email", "mcp:tools"}
    claims = await idp.verify(body["access_token"], "mcp-server")
    assert claims["sub"] == ALICE and claims["azp"] == "explorer-cli" and claims["typ"] == "Bearer"
    assert auds(claims) == {"mcp-server"} | TOOL_AUDIENCES
    assert claims["jti"].startswith("onrtac:") and claims["sid"] == body["session_state"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["preferred_username"] == "alice"
    assert (claims["role"], claims["department"], claims["reports_to"]) == (
        "admin",
        "engineering",
        "bob",
    )
    assert claims["may_act"] == {"sub": AGENT_SA, "client_id": "agent"}


async def test_without_mcp_tools_the_token_is_not_for_the_mcp_server(idp):
    claims = jwt.decode(
        await idp.user_token("alice", scope="openid"), options={"verify_signature": False}
    )
    assert auds(claims) == TOOL_AUDIENCES
    r = await idp.exchange(
        await idp.user_token("alice", scope="openid"), audience="records-service"
    )
    assert r.status_code == 403 and r.json()["error"] == "access_denied"


async def test_a_user_without_a_manager_has_no_reports_to(idp):
    claims = jwt.decode(await idp.user_token("dave"), options={"verify_signature": False})
    assert (claims["role"], claims["department"]) == ("readonly", "platform")
    assert "reports_to" not in claims


async def test_state_comes_back_unchanged(idp):
    response, _ = await idp.authorize("bob", state="a b&c=d/é")
    assert response.state == "a b&c=d/é"
    assert response.location.startswith(REDIRECT + "?state=")


async def test_a_wrong_password_shows_the_form_again(idp):
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", "nope")
    assert failed.value.reason == "the IdP refused the login: Invalid username or password."


async def test_the_password_grant_is_refused(idp):
    r = await idp.token(
        {
            "grant_type": "password",
            "client_id": "explorer-cli",
            "username": "alice",
            "password": "alice-pass",
        }
    )
    assert r.status_code == 400  # RFC 9700 section 2.4: MUST NOT be used
    assert r.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }


async def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(idp):
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", redirect_uri="http://evil.example/callback")
    assert failed.value.status == 400 and failed.value.error is None
    assert failed.value.reason.endswith("Invalid parameter: redirect_uri")


async def test_pkce_is_required_with_s256(idp):
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", code_challenge=None, code_challenge_method=None)
    assert failed.value.error == "invalid_request"
    assert failed.value.error_description == "Missing parameter: code_challenge_method"
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", code_challenge_method="plain")
    assert failed.value.error == "invalid_request"


async def test_a_wrong_code_verifier_is_refused(idp):
    response, _ = await idp.authorize("alice")
    r = await idp.redeem(response.code, PKCEParameters.generate().code_verifier)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }


async def test_the_token_request_must_repeat_the_redirect_uri(idp):
    response, pkce = await idp.authorize("alice")
    r = await idp.redeem(response.code, pkce.code_verifier, redirect_uri=REDIRECT + "/x")
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect redirect_uri",
    }


async def test_a_code_works_once_and_its_reuse_revokes_its_tokens(idp):
    response, pkce = await idp.authorize("bob")
    first = await idp.redeem(response.code, pkce.code_verifier)
    token = first.json()["access_token"]
    again = await idp.redeem(response.code, pkce.code_verifier)
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_grant",
        "error_description": "Code not valid",
    }
    r = await idp.exchange(token, audience="records-service")
    assert r.status_code == 400 and r.json()["error_description"] == "Invalid token"


async def test_a_resource_indicator_must_be_an_absolute_uri(idp):
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", resource="not-absolute")
    assert failed.value.error == "invalid_target"


async def test_a_resource_indicator_joins_the_audience_only_on_the_embedded_idp(idp):
    resource = "http://127.0.0.1:8765/mcp"
    r = await idp.login("alice", resource=resource)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    if EXTERNAL:  # Keycloak 26.7 checks the syntax and then ignores it (docs/real-stack.md)
        assert auds(claims) == {"mcp-server"} | TOOL_AUDIENCES
    else:
        assert auds(claims) == {resource, "mcp-server"} | TOOL_AUDIENCES


async def test_unknown_client_is_invalid_client(idp):
    r = await idp.token(
        {"grant_type": "authorization_code", "client_id": "no-such-client", "code": "x"}
    )
    assert r.status_code == 401
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


async def test_wrong_client_secret_is_refused(idp):
    r = await idp.token(
        {"grant_type": "client_credentials", "client_id": "agent", "client_secret": "wrong"}
    )
    assert r.status_code == 401 and r.json()["error"] in ("unauthorized_client", "invalid_client")


async def test_client_without_direct_grants_cannot_use_password(idp):
    r = await idp.token(
        {
            "grant_type": "password",
            "client_id": "mcp-server",
            "client_secret": "mcp-server-secret",
            "username": "alice",
            "password": "alice-pass",
        }
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


async def test_client_credentials_for_the_agent(idp):
    r = await idp.token(
        {"grant_type": "client_credentials", "client_id": "agent", "client_secret": "agent-secret"}
    )
    assert r.status_code == 200
    assert "refresh_token" not in r.json()
    claims = await idp.verify(r.json()["access_token"], "mcp-server")
    assert claims["sub"] == AGENT_SA and claims["azp"] == "agent"


async def test_exchange_narrows_to_records_service(idp):
    r = await idp.exchange(await idp.user_token("alice"), audience="records-service")
    assert r.status_code == 200, r.text
    assert r.json()["issued_token_type"] == ACCESS
    claims = await idp.verify(r.json()["access_token"], "records-service")
    assert claims["aud"] == "records-service" and claims["azp"] == "mcp-server"
    assert claims["sub"] == ALICE and claims["preferred_username"] == "alice"
    assert claims["role"] == "admin"


async def test_exchange_to_an_unknown_audience_is_refused(idp):
    r = await idp.exchange(await idp.user_token(), audience="payroll-service")
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"


async def test_exchange_cannot_upscope_to_an_audience_the_requester_lacks(idp):
    r = await idp.exchange(await idp.user_token(), audience="mcp-server")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert r.json()["error_description"].startswith("Requested audience not available")


async def test_exchange_by_the_public_client_is_refused(idp):
    r = await idp.exchange(
        await idp.user_token(), client_id="explorer-cli", secret=None, audience="records-service"
    )
    assert r.status_code in (400, 401, 403) and "access_token" not in r.json()


async def test_exchange_by_a_client_outside_the_subject_audience_is_refused(idp):
    r = await idp.exchange(await idp.user_token(), client_id="agent", secret="agent-secret")
    assert r.status_code in (400, 403) and "access_token" not in r.json()


async def test_exchange_of_a_refresh_token_is_refused(idp):
    refresh = (await idp.login()).json()["refresh_token"]
    r = await idp.exchange(refresh, audience="records-service")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await idp.exchange(refresh, audience="records-service", subject_token_type=REFRESH)
    assert r.status_code == 400


async def test_exchange_of_a_tampered_token_is_refused(idp):
    head, _body, sig = (await idp.user_token("dave")).split(".")
    _h, body, _s = (await idp.user_token("alice")).split(".")
    r = await idp.exchange(f"{head}.{body}.{sig}", audience="records-service")
    assert r.status_code == 400 and "access_token" not in r.json()


async def test_delegated_exchange_names_the_agent(idp):
    actor = (
        await idp.token(
            {
                "grant_type": "client_credentials",
                "client_id": "agent",
                "client_secret": "agent-secret",
            }
        )
    ).json()["access_token"]
    r = await idp.exchange(
        await idp.user_token("bob"),
        audience="records-service",
        actor_token=actor,
        actor_token_type=ACCESS,
    )
    assert r.status_code == 200, r.text
    claims = await idp.verify(r.json()["access_token"], "records-service")
    assert claims["preferred_username"] == "bob" and claims["azp"] == "mcp-server"
    if EXTERNAL:  # Keycloak without the delegation feature names the actor only as azp
        assert claims.get("act", {}).get("client_id", "agent") == "agent"
    else:
        assert claims["act"] == {"sub": AGENT_SA, "client_id": "agent"}


async def test_a_dpop_proof_on_the_code_redemption_binds_the_token(idp):
    key = generate_ec_key()
    response, pkce = await idp.authorize("alice")
    proof = create_proof(key, "POST", f"{idp.oidc}/token", iat=time.time())
    r = await idp.redeem(response.code, pkce.code_verifier, headers={"DPoP": proof})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    claims = await idp.verify(r.json()["access_token"], "records-service")
    assert claims["cnf"]["jkt"] == jwk_thumbprint(public_jwk(key)) and claims["typ"] == "DPoP"


async def test_a_replayed_dpop_proof_is_refused(idp):
    key = generate_ec_key()
    proof = create_proof(key, "POST", f"{idp.oidc}/token", iat=time.time())
    agent = {
        "grant_type": "client_credentials",
        "client_id": "agent",
        "client_secret": "agent-secret",
    }
    assert (await idp.token(agent, headers={"DPoP": proof})).status_code == 200
    r = await idp.token(agent, headers={"DPoP": proof})
    # Keycloak 26.7 says invalid_request (RFC 9449 would say invalid_dpop_proof)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request",
        "error_description": "DPoP proof has already been used",
    }


async def test_userinfo_needs_the_openid_scope(idp):
    token = await idp.user_token("bob", scope="mcp:tools")
    r = await idp.http.get(f"{idp.oidc}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_userinfo_and_introspection_accept_a_fresh_token(idp):
    token = await idp.user_token("bob")
    r = await idp.http.get(f"{idp.oidc}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["preferred_username"] == "bob"
    r = await idp.http.post(
        f"{idp.oidc}/token/introspect",
        data={"token": token, "client_id": "mcp-server", "client_secret": "mcp-server-secret"},
    )
    assert r.status_code == 200 and r.json()["active"] is True


async def test_userinfo_refuses_a_bad_token(idp):
    r = await idp.http.get(f"{idp.oidc}/userinfo", headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401 and "www-authenticate" in r.headers


# Dynamic client registration (RFC 7591), anonymous, under the realm's policies: what a client
# of your own (the MCP Inspector's OAuth flow) does before it can log a user in.
INSPECTOR_CALLBACK = "http://localhost:6274/oauth/callback"


async def register(idp: Idp, **metadata: Any) -> httpx.Response:
    body = {"client_name": "a client of your own", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
            "response_types": ["code"], "scope": MCP_TOOLS, **metadata}
    return await idp.http.post(f"{idp.issuer}/clients-registrations/openid-connect",
                               json={k: v for k, v in body.items() if v is not None})


async def test_discovery_names_the_registration_endpoint(idp):
    doc = (await idp.http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
    assert doc["registration_endpoint"] == f"{idp.issuer}/clients-registrations/openid-connect"


@pytest.mark.parametrize("redirect", [REDIRECT, INSPECTOR_CALLBACK])
async def test_a_registered_public_client_logs_a_user_in_and_its_token_can_be_exchanged(
    idp, redirect
):
    r = await register(idp, redirect_uris=[redirect])
    assert r.status_code == 201, r.text
    info = r.json()
    client_id = info["client_id"]
    assert client_id not in {"explorer-cli", "agent", "mcp-server"} and "client_secret" not in info
    assert info["redirect_uris"] == [redirect] and info["token_endpoint_auth_method"] == "none"
    response, pkce = await idp.authorize("alice", client_id=client_id, redirect_uri=redirect)
    r = await idp.redeem(response.code, pkce.code_verifier, client_id=client_id,
                         redirect_uri=redirect)
    assert r.status_code == 200, r.text
    claims = await idp.verify(r.json()["access_token"], "mcp-server")
    assert claims["azp"] == client_id and claims["sub"] == ALICE
    assert auds(claims) == {"mcp-server"}  # what it asked for: no service audience, no may_act
    assert "may_act" not in claims and "role" not in claims
    # pattern 06's exchange takes it as a subject token like the explorer's own
    r = await idp.exchange(r.json()["access_token"], audience="records-service",
                           requested_token_type=ACCESS)
    assert r.status_code == 200, r.text
    exchanged = await idp.verify(r.json()["access_token"], "records-service")
    assert exchanged["sub"] == ALICE and exchanged["role"] == "admin"


async def test_a_registered_confidential_client_gets_a_secret_and_must_use_it(idp):
    r = await register(idp, token_endpoint_auth_method="client_secret_post")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["client_secret"] and info["client_secret_expires_at"] == 0
    response, pkce = await idp.authorize("bob", client_id=info["client_id"])
    r = await idp.redeem(response.code, pkce.code_verifier, client_id=info["client_id"])
    assert r.status_code == 401 and r.json()["error"] in {"unauthorized_client", "invalid_client"}


@pytest.mark.parametrize("redirect", ["https://attacker.example/callback",
                                      "http://192.168.1.10/callback"])
async def test_a_redirect_uri_outside_the_trusted_hosts_is_refused(idp, redirect):
    r = await register(idp, redirect_uris=[REDIRECT, redirect])
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope", r.text
    assert "Trusted Hosts" in r.json()["error_description"]


@pytest.mark.parametrize("scope", ["openid agent:delegate", "tool-services-audience",
                                   "openid agentauth-claims", "delegate:summarizer"])
async def test_a_scope_outside_the_allowed_client_scopes_is_refused(idp, scope):
    r = await register(idp, scope=scope)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope", r.text
    assert "Allowed Client Scopes" in r.json()["error_description"]


async def test_a_registration_naming_its_own_client_id_is_refused(idp):
    r = await register(idp, client_id="explorer-cli")
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"


async def test_a_registered_client_cannot_use_the_scopes_it_did_not_register(idp):
    r = await register(idp, scope="openid")
    assert r.status_code == 201, r.text
    with pytest.raises(LoginFailed) as failed:
        await idp.authorize("alice", client_id=r.json()["client_id"])  # asks mcp:tools
    assert failed.value.error == "invalid_scope"


async def test_a_registered_client_may_ask_for_offline_access_as_spec_following_sdks_do(idp):
    # SEP-2207: an MCP client with refresh_token in its grant types adds offline_access when
    # the metadata lists it; Keycloak's realm default optional scope allows it here
    r = await register(idp, scope="openid mcp:tools offline_access", grant_types=None)
    assert r.status_code == 201, r.text
    info = r.json()
    assert set(info["scope"].split()) == {"mcp:tools", "offline_access"}
    assert set(info["grant_types"]) == {"authorization_code", "refresh_token"}
    response, pkce = await idp.authorize("dave", client_id=info["client_id"],
                                         scope="openid mcp:tools offline_access")
    r = await idp.redeem(response.code, pkce.code_verifier, client_id=info["client_id"])
    assert r.status_code == 200, r.text
    assert "offline_access" in r.json()["scope"].split() and r.json()["refresh_token"]


async def test_a_registered_client_cannot_exchange_its_users_token_for_a_service(idp):
    # only mcp-server may exchange (standard token exchange is off for a registered client):
    # a client of your own gets a token for the MCP server, never one for a service
    r = await register(idp, token_endpoint_auth_method="client_secret_post")
    info = r.json()
    response, pkce = await idp.authorize("alice", client_id=info["client_id"])
    r = await idp.redeem(response.code, pkce.code_verifier, client_id=info["client_id"],
                         client_secret=info["client_secret"])
    assert r.status_code == 200, r.text
    r = await idp.exchange(r.json()["access_token"], client_id=info["client_id"],
                           secret=info["client_secret"], audience="records-service")
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request",
        "error_description": "Standard token exchange is not enabled for the requested client"}
