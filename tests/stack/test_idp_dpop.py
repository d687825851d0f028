"""Embedded IdP: DPoP (RFC 9449) at the token endpoint and at userinfo."""

from __future__ import annotations

import json

import jwt
import pytest

from stack.clock import Clock
from stack.idp import DEFAULT_REALM_FILE
from stack.idp.testing import IdPTestClient, claims_of
from stack.jose import (
    create_proof,
    generate_ec_key,
    generate_rsa_key,
    jwk_thumbprint,
    private_jwk,
    public_jwk,
)


@pytest.fixture(scope="module")
def key():
    return generate_ec_key()


def proof_for(kc: IdPTestClient, key, clock: Clock, **kw) -> dict[str, str]:
    htu = kw.pop("htu", kc.token_url)
    htm = kw.pop("htm", "POST")
    return {"DPoP": create_proof(key, htm, htu, iat=kw.pop("iat", clock.now()), **kw)}


def bad_proof(r, description: str | None = None) -> bool:
    """Keycloak 26.7 refuses a bad proof with 400 invalid_request (not RFC 9449's
    invalid_dpop_proof); the embedded IdP answers the same, with Keycloak's texts."""
    body = r.json()
    ok = r.status_code == 400 and body["error"] == "invalid_request"
    return ok and (description is None or body["error_description"] == description)


async def test_a_code_redeemed_with_a_proof_gives_a_bound_token(kc, key, clock):
    r = await kc.code_flow("alice", headers=proof_for(kc, key, clock))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    claims = claims_of(body["access_token"])
    assert claims["cnf"] == {"jkt": jwk_thumbprint(public_jwk(key)), "kc-jkt-type": "DPoP"}
    assert claims["typ"] == "DPoP"  # Keycloak 26.7 types bound access tokens DPoP


async def test_dpop_jkt_on_the_authorization_request_binds_the_code_to_that_key(kc, key, clock):
    jkt = jwk_thumbprint(public_jwk(key))
    response, request = await kc.authorize("alice", dpop_jkt=jkt)
    r = await kc.redeem(response.code, request.code_verifier)
    assert bad_proof(r, "DPoP Proof missing")
    response, request = await kc.authorize("alice", dpop_jkt=jkt)
    r = await kc.redeem(
        response.code, request.code_verifier, headers=proof_for(kc, generate_ec_key(), clock)
    )
    assert bad_proof(r, "DPoP Proof public key thumbprint does not match dpop_jkt")
    response, request = await kc.authorize("alice", dpop_jkt=jkt)
    r = await kc.redeem(response.code, request.code_verifier, headers=proof_for(kc, key, clock))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"


async def test_exchange_with_a_proof_binds_the_exchanged_token(kc, key, clock):
    subject = await kc.login("alice")
    r = await kc.exchange(subject, audience="records-service", headers=proof_for(kc, key, clock))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    claims = claims_of(r.json()["access_token"])
    assert claims["cnf"]["jkt"] == jwk_thumbprint(public_jwk(key))
    assert claims["aud"] == "records-service"


async def test_client_credentials_with_an_rsa_proof_binds_the_token(kc, clock):
    rsa = generate_rsa_key()
    r = await kc.client_credentials("agent", headers=proof_for(kc, rsa, clock))
    assert r.json()["token_type"] == "DPoP"
    assert claims_of(r.json()["access_token"])["cnf"]["jkt"] == jwk_thumbprint(public_jwk(rsa))


async def test_a_replayed_proof_is_refused(kc, key, clock):
    headers = proof_for(kc, key, clock)
    assert (await kc.client_credentials("agent", headers=headers)).status_code == 200
    assert bad_proof(
        await kc.client_credentials("agent", headers=headers), "DPoP proof has already been used"
    )


async def test_a_proof_for_another_url_is_refused(kc, key, clock):
    other = kc.token_url.replace("/token", "/userinfo")
    r = await kc.client_credentials("agent", headers=proof_for(kc, key, clock, htu=other))
    assert bad_proof(r, "DPoP HTTP URL mismatch")


async def test_a_proof_for_another_method_is_refused(kc, key, clock):
    r = await kc.client_credentials("agent", headers=proof_for(kc, key, clock, htm="GET"))
    assert bad_proof(r, "DPoP HTTP method mismatch")


async def test_a_stale_proof_is_refused(kc, key, clock):
    headers = proof_for(kc, key, clock)
    clock.advance(30)  # Keycloak: 10 s lifetime + 15 s clock skew
    assert bad_proof(
        await kc.client_credentials("agent", headers=headers), "DPoP proof is not active"
    )


async def test_a_proof_from_the_future_is_refused(kc, key, clock):
    assert bad_proof(
        await kc.client_credentials(
            "agent", headers=proof_for(kc, key, clock, iat=clock.now() + 600)
        )
    )


async def test_a_proof_carrying_the_private_key_is_refused(kc, key, clock):
    headers = proof_for(kc, key, clock, headers={"jwk": private_jwk(key)})
    r = await kc.client_credentials("agent", headers=headers)
    assert bad_proof(r, "Private key material must not be present in DPoP JWK")


@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_unsigned_or_symmetric_proofs_are_refused(kc, key, clock, alg):
    claims = {"jti": "j1", "htm": "POST", "htu": kc.token_url, "iat": int(clock.now())}
    secret = None if alg == "none" else "s" * 32
    proof = jwt.encode(
        claims, secret, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": public_jwk(key)}
    )
    assert bad_proof(await kc.client_credentials("agent", headers={"DPoP": proof}))


async def test_a_proof_with_the_wrong_typ_is_refused(kc, key, clock):
    r = await kc.client_credentials(
        "agent", headers=proof_for(kc, key, clock, headers={"typ": "JWT"})
    )
    assert bad_proof(r, "Invalid or missing type in DPoP header: JWT")


async def test_a_garbage_proof_is_refused(kc):
    r = await kc.client_credentials("agent", headers={"DPoP": "not-a-jwt"})
    assert bad_proof(r, "DPoP header verification failure")


async def test_two_proofs_are_refused(kc, key, clock):
    first = proof_for(kc, key, clock)["DPoP"]
    second = proof_for(kc, key, clock)["DPoP"]
    r = await kc.http.post(
        kc.path("protocol/openid-connect/token"),
        data={
            "grant_type": "client_credentials",
            "client_id": "agent",
            "client_secret": "agent-secret",
        },
        headers=[("DPoP", first), ("DPoP", second)],
    )
    assert bad_proof(r)


async def test_a_client_that_requires_dpop_refuses_requests_without_a_proof(tmp_path, key):
    data = json.loads(DEFAULT_REALM_FILE.read_text())
    client = next(c for c in data["clients"] if c["clientId"] == "agent")
    client["attributes"]["dpop.bound.access.tokens"] = "true"
    (tmp_path / "realm.json").write_text(json.dumps(data))
    clock = Clock()
    async with IdPTestClient.embedded(tmp_path / "realm.json", clock) as kc:
        r = await kc.client_credentials("agent")
        assert r.status_code == 400 and r.json()["error_description"] == "DPoP proof is missing"
        r = await kc.client_credentials("agent", headers=proof_for(kc, key, clock))
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP"


async def test_public_client_refresh_tokens_are_bound_to_the_same_key(kc, key, clock):
    refresh = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()[
        "refresh_token"
    ]
    form = {"grant_type": "refresh_token", "client_id": "explorer-cli", "refresh_token": refresh}
    assert (await kc.token(form)).json() == {
        "error": "invalid_grant",
        "error_description": "DPoP proof is missing",
    }
    r = await kc.token(form, headers=proof_for(kc, generate_ec_key(), clock))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await kc.token(form, headers=proof_for(kc, key, clock))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"


async def userinfo(kc, token, key, clock, scheme="DPoP", **kw):
    url = f"{kc.issuer}/protocol/openid-connect/userinfo"
    headers = {"Authorization": f"{scheme} {token}"}
    if key is not None:
        headers.update(proof_for(kc, key, clock, htu=url, htm="GET", access_token=token, **kw))
    return await kc.http.get(url, headers=headers)


async def test_userinfo_accepts_a_bound_token_with_a_matching_proof(kc, key, clock):
    token = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    r = await userinfo(kc, token, key, clock)
    assert r.status_code == 200 and r.json()["preferred_username"] == "alice"


async def test_userinfo_refuses_a_bound_token_used_as_bearer(kc, key, clock):
    token = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    assert (await userinfo(kc, token, None, clock, scheme="Bearer")).status_code == 401
    assert (await userinfo(kc, token, None, clock)).status_code == 401  # DPoP scheme, no proof


async def test_userinfo_refuses_a_stolen_bound_token_with_the_thiefs_key(kc, key, clock):
    token = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    r = await userinfo(kc, token, generate_ec_key(), clock)
    assert r.status_code == 401 and "DPoP" in r.headers["www-authenticate"]


async def test_userinfo_refuses_a_replayed_resource_proof(kc, key, clock):
    token = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    url = f"{kc.issuer}/protocol/openid-connect/userinfo"
    headers = {
        "Authorization": f"DPoP {token}",
        **proof_for(kc, key, clock, htu=url, htm="GET", access_token=token),
    }
    assert (await kc.http.get(url, headers=headers)).status_code == 200
    assert (await kc.http.get(url, headers=headers)).status_code == 401


async def test_a_bound_subject_token_cannot_be_exchanged_by_another_client(kc, key, clock):
    bound = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    r = await kc.exchange(bound, headers=proof_for(kc, key, clock))
    assert r.status_code == 400 and "Sender-constrained" in r.json()["error_description"]


async def test_introspection_reports_the_dpop_token_type(kc, key, clock):
    token = (await kc.code_flow("alice", headers=proof_for(kc, key, clock))).json()["access_token"]
    r = await kc.http.post(
        kc.path("protocol/openid-connect/token/introspect"),
        data={"token": token, "client_id": "mcp-server", "client_secret": "mcp-server-secret"},
    )
    assert r.json()["active"] is True and r.json()["token_type"] == "DPoP"
