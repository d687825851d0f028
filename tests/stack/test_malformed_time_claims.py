"""Time claims that are not RFC 7519 NumericDates: NaN, ±Infinity, huge integers, strings,
booleans, null, lists and objects in exp, nbf or iat.

`json.loads` reads NaN and Infinity, and `NaN <= now` is False, so a token or DPoP proof
carrying them used to pass every expiry and freshness check. Each place that reads a time
claim is tried with the whole family: the IdP refuses the token the way Keycloak would (never
a 500, never accepted), `verify_proof` raises DPoPError, and legitimate values still work.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from stack.idp import EmbeddedIdP
from stack.idp.testing import IdPTestClient, claims_of
from stack.jose import (
    DPoPError,
    InvalidNumericDate,
    ReplayCache,
    create_proof,
    generate_ec_key,
    numeric_date,
    verify_proof,
)

OIDC = "/realms/agentauth/protocol/openid-connect"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TIME_CLAIMS = ("exp", "nbf", "iat")

not_numeric_dates = st.one_of(
    st.sampled_from([
        math.nan, math.inf, -math.inf, 10**400, "Infinity", "-Infinity", "NaN", "123",
        "1e9", "", True, False, None, [], {}, [1_900_000_000], {"$date": 1_900_000_000},
    ]),
    st.integers(min_value=2**1024, max_value=10**700),
    st.integers(min_value=-(10**700), max_value=-(2**1024)),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
finite_numbers = st.one_of(
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
)


# --------------------------------------------------------------- the shared function

@given(value=not_numeric_dates)
def test_numeric_date_refuses_everything_that_is_not_a_finite_number(value: Any) -> None:
    with pytest.raises(InvalidNumericDate) as exc:
        numeric_date(value, "exp")
    assert isinstance(exc.value, ValueError) and exc.value.claim == "exp"
    assert str(exc.value).startswith("exp is not a NumericDate")


@given(value=finite_numbers)
def test_numeric_date_accepts_finite_ints_and_floats(value: int | float) -> None:
    assert numeric_date(value, "iat") == float(value)


# --------------------------------------------------------------- the embedded IdP

@pytest.fixture(scope="module")
def idp() -> EmbeddedIdP:
    return EmbeddedIdP()


@pytest.fixture(scope="module")
def client(idp: EmbeddedIdP):
    with TestClient(idp.app, raise_server_exceptions=True) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(idp: EmbeddedIdP, client: TestClient) -> dict[str, str]:
    async def log_in() -> dict[str, Any]:  # the code flow, on the TestClient's issuer URL
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=idp.app),
                                 base_url=str(client.base_url))
        async with IdPTestClient(http) as kc:
            return (await kc.code_flow("bob")).json()

    login = asyncio.run(log_in())
    agent = client.post(f"{OIDC}/token", data={
        "grant_type": "client_credentials", "client_id": "agent",
        "client_secret": "agent-secret"}).json()
    return {"access": login["access_token"], "refresh": login["refresh_token"],
            "actor": agent["access_token"]}


def resigned(idp: EmbeddedIdP, token: str, claim: str, value: Any) -> str:
    """The IdP's own token with one time claim replaced, signed again with the IdP's key
    (as if a mapper or a bug had put it there: the signature alone must not carry it)."""
    claims = {**claims_of(token), claim: value}
    keys = idp.provider.keys
    return keys.sign_refresh(claims) if claims["typ"] == "Refresh" else keys.sign(claims)


def exchange(client: TestClient, subject: str, actor: str | None = None):
    form = {"grant_type": TOKEN_EXCHANGE, "client_id": "mcp-server",
            "client_secret": "mcp-server-secret", "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE}
    if actor is not None:
        form.update(actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    return client.post(f"{OIDC}/token", data=form)


def present(client: TestClient, tokens: dict[str, str], place: str, token: str):
    """Use `token` at one place that reads its time claims."""
    if place == "subject_token":
        return exchange(client, token)
    if place == "actor_token":
        return exchange(client, tokens["access"], actor=token)
    if place == "refresh_token":
        return client.post(f"{OIDC}/token", data={
            "grant_type": "refresh_token", "client_id": "explorer-cli", "refresh_token": token})
    if place == "userinfo":
        return client.get(f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {token}"})
    return client.post(f"{OIDC}/token/introspect", data={
        "client_id": "mcp-server", "client_secret": "mcp-server-secret", "token": token})


SOURCE = {"subject_token": "access", "actor_token": "actor", "refresh_token": "refresh",
          "userinfo": "access", "introspection": "access"}
# How Keycloak refuses a bad token at each place (status, error, description).
REFUSAL = {
    "subject_token": (400, "invalid_request", "Invalid token"),
    "actor_token": (400, "invalid_request", "Invalid actor token"),
    "refresh_token": (400, "invalid_grant", "Invalid refresh token"),
}
PLACES = list(SOURCE)


def assert_refused(place: str, r) -> None:
    if place in REFUSAL:
        status, error, description = REFUSAL[place]
        assert (r.status_code, r.json()) == (
            status, {"error": error, "error_description": description}), r.text
    elif place == "userinfo":  # Keycloak: 401 and a challenge, no body
        assert r.status_code == 401, r.text
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    else:  # RFC 7662 / Keycloak: an unusable token is just inactive
        assert (r.status_code, r.json()) == (200, {"active": False}), r.text


@pytest.mark.parametrize("claim", TIME_CLAIMS)
@pytest.mark.parametrize("place", PLACES)
@settings(max_examples=25, deadline=None)
@given(value=not_numeric_dates)
def test_the_idp_refuses_a_token_whose_time_claim_is_not_a_numeric_date(
    idp, client, tokens, place, claim, value
):
    token = resigned(idp, tokens[SOURCE[place]], claim, value)
    assert_refused(place, present(client, tokens, place, token))


@pytest.mark.parametrize("place", PLACES)
def test_the_idp_refuses_a_token_before_its_nbf_and_accepts_int_or_float_times(
    idp, client, tokens, place
):
    now = time.time()
    early = resigned(idp, tokens[SOURCE[place]], "nbf", now + 60)
    assert_refused(place, present(client, tokens, place, early))
    token = tokens[SOURCE[place]]
    for claim, value in (("exp", now + 120.5), ("nbf", now - 5), ("iat", int(now) - 1)):
        token = resigned(idp, token, claim, value)
    r = present(client, tokens, place, token)
    assert r.status_code == 200, r.text
    if place == "introspection":
        assert r.json()["active"] is True


# --------------------------------------------------------------- DPoP proofs

NOW = 1_800_000_000.0
HTU = "https://idp.example/realms/agentauth/protocol/openid-connect/token"


@pytest.fixture(scope="module")
def key():
    return generate_ec_key()


@pytest.mark.parametrize("claim", TIME_CLAIMS)
@settings(max_examples=60, deadline=None)
@given(value=not_numeric_dates)
def test_a_dpop_proof_whose_time_claim_is_not_a_numeric_date_is_refused(key, claim, value):
    proof = create_proof(key, "POST", HTU, iat=NOW, claims={claim: value})
    cache = ReplayCache()
    with pytest.raises(DPoPError) as exc:
        verify_proof(proof, htm="POST", htu=HTU, now=NOW, replay=cache)
    assert exc.value.reason == "iat" and "NumericDate" in exc.value.detail
    assert len(cache) == 0  # refused before its jti was recorded


def reason(proof: str) -> str:
    with pytest.raises(DPoPError) as exc:
        verify_proof(proof, htm="POST", htu=HTU, now=NOW, replay=ReplayCache())
    return exc.value.reason


@settings(max_examples=60, deadline=None)
@given(offset=st.floats(min_value=-64.0, max_value=4.0))
def test_a_dpop_proof_honours_its_own_exp_and_nbf_and_float_times_work(key, offset):
    assert reason(create_proof(key, "POST", HTU, iat=NOW, claims={"exp": NOW - 60})) == "iat"
    assert reason(create_proof(key, "POST", HTU, iat=NOW, claims={"nbf": NOW + 60})) == "iat"
    times = {"iat": NOW + offset, "exp": NOW + 60.5, "nbf": NOW - 0.5}
    proof = create_proof(key, "POST", HTU, claims=times)
    assert verify_proof(proof, htm="POST", htu=HTU, now=NOW, replay=ReplayCache())


@settings(max_examples=25, deadline=None)
@given(value=not_numeric_dates)
def test_the_idp_token_endpoint_refuses_a_proof_with_a_non_numeric_iat(idp, client, key,
                                                                       value):
    url = f"http://testserver{OIDC}/token"
    proof = create_proof(key, "POST", url, iat=time.time(), claims={"iat": value})
    r = client.post(f"{OIDC}/token", headers={"DPoP": proof}, data={
        "grant_type": "client_credentials", "client_id": "agent",
        "client_secret": "agent-secret"})
    assert (r.status_code, r.json()) == (400, {
        "error": "invalid_request", "error_description": "DPoP proof is not active"})
