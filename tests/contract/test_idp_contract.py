"""The IdP contract, over HTTP only: true of Keycloak 26 (AGENT_AUTH_STACK=external) and of
the embedded IdP alike. Names and shapes come from docs/contracts.md."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import jwt
import pytest

from stack.jose import create_proof, generate_ec_key, jwk_thumbprint, public_jwk

EXTERNAL = os.environ.get("AGENT_AUTH_STACK") == "external"
REALM = "agentauth"
ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"
AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"


class Idp:
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.issuer = f"{url}/realms/{REALM}"
        self.oidc = f"{self.issuer}/protocol/openid-connect"
        self.http = http

    async def token(self, data: dict[str, Any], **kw: Any) -> httpx.Response:
        return await self.http.post(f"{self.oidc}/token", data=data, **kw)

    async def login(
        self, user: str = "alice", data_extra: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        data = {
            "grant_type": "password",
            "client_id": "explorer-cli",
            "username": user,
            "password": f"{user}-pass",
            **(data_extra or {}),
        }
        return await self.token(data, **kw)

    async def user_token(self, user: str = "alice") -> str:
        r = await self.login(user)
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
    assert doc["token_endpoint"] == f"{idp.oidc}/token"
    assert doc["jwks_uri"] == f"{idp.oidc}/certs"
    assert doc["userinfo_endpoint"] == f"{idp.oidc}/userinfo"
    assert doc["introspection_endpoint"] == f"{idp.oidc}/token/introspect"
    assert {"password", "client_credentials", "refresh_token", EXCHANGE} <= set(
        doc["grant_types_supported"]
    )
    assert "ES256" in doc["dpop_signing_alg_values_supported"]


async def test_unknown_realm_is_404(idp):
    r = await idp.http.get(
        idp.issuer.replace(REALM, "no-such-realm") + "/.well-known/openid-configuration"
    )
    assert r.status_code == 404 and r.json()["error"] == "Realm does not exist"


async def test_jwks_has_an_rs256_signing_key_with_a_kid(idp):
    keys = (await idp.http.get(f"{idp.oidc}/certs")).json()["keys"]
    signing = [k for k in keys if k.get("use") == "sig" and k.get("alg") == "RS256"]
    assert signing and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in signing)


async def test_password_grant_token_has_the_contract_claims(idp):
    r = await idp.login("alice")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["refresh_token"]
    claims = await idp.verify(body["access_token"], "records-service")
    assert claims["sub"] == ALICE and claims["azp"] == "explorer-cli" and claims["typ"] == "Bearer"
    assert auds(claims) == {"mcp-server", "records-service", "directory-service"}
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    assert claims["preferred_username"] == "alice"
    assert (claims["role"], claims["department"], claims["reports_to"]) == (
        "admin",
        "engineering",
        "bob",
    )


async def test_a_user_without_a_manager_has_no_reports_to(idp):
    claims = jwt.decode(await idp.user_token("dave"), options={"verify_signature": False})
    assert (claims["role"], claims["department"]) == ("readonly", "platform")
    assert "reports_to" not in claims


async def test_wrong_password_is_invalid_grant(idp):
    r = await idp.token(
        {
            "grant_type": "password",
            "client_id": "explorer-cli",
            "username": "alice",
            "password": "nope",
        }
    )
    assert r.status_code == 400  # Keycloak 26.7 (DESIGN.md's "401" predates it)
    assert r.json() == {"error": "invalid_grant", "error_description": "Invalid user credentials"}


async def test_unknown_client_is_invalid_client(idp):
    r = await idp.token(
        {
            "grant_type": "password",
            "client_id": "no-such-client",
            "username": "alice",
            "password": "alice-pass",
        }
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


async def test_dpop_proof_binds_the_token(idp):
    key = generate_ec_key()
    proof = create_proof(key, "POST", f"{idp.oidc}/token", iat=time.time())
    r = await idp.login("alice", headers={"DPoP": proof})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    claims = await idp.verify(r.json()["access_token"], "records-service")
    assert claims["cnf"]["jkt"] == jwk_thumbprint(public_jwk(key))


async def test_a_replayed_dpop_proof_is_refused(idp):
    key = generate_ec_key()
    proof = create_proof(key, "POST", f"{idp.oidc}/token", iat=time.time())
    assert (await idp.login("alice", headers={"DPoP": proof})).status_code == 200
    r = await idp.login("alice", headers={"DPoP": proof})
    # Keycloak 26.7 says invalid_request (RFC 9449 would say invalid_dpop_proof)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request",
        "error_description": "DPoP proof has already been used",
    }


async def test_userinfo_needs_the_openid_scope(idp):
    token = await idp.user_token("bob")
    r = await idp.http.get(f"{idp.oidc}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_userinfo_and_introspection_accept_a_fresh_token(idp):
    r = await idp.login("bob", data_extra={"scope": "openid"})
    token = r.json()["access_token"]
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
