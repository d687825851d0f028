"""Embedded IdP: malformed bodies, huge tokens and garbage get clear 4xx JSON, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from stack.idp import EmbeddedIdP

TOKEN = "/realms/agentauth/protocol/openid-connect/token"
USERINFO = "/realms/agentauth/protocol/openid-connect/userinfo"
INTROSPECT = "/realms/agentauth/protocol/openid-connect/token/introspect"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def client():
    # raise_server_exceptions: an unhandled error inside the IdP fails the test loudly
    with TestClient(EmbeddedIdP().app, raise_server_exceptions=True) as c:
        yield c


def clear_error(r, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str)


def test_a_json_body_is_read_as_no_form_like_keycloak(client):
    r = client.post(TOKEN, json={"grant_type": "password"})
    clear_error(r)
    assert r.json()["error_description"] == "Missing form parameter: grant_type"


def test_a_body_that_is_not_utf8_is_refused(client):
    clear_error(client.post(TOKEN, content=b"grant_type=\xff\xfe", headers=FORM))


def test_an_oversized_body_is_refused(client):
    clear_error(client.post(TOKEN, content=b"a=" + b"x" * 70_000, headers=FORM))


def test_a_huge_subject_token_is_refused_before_decoding(client):
    r = client.post(
        TOKEN,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_id": "mcp-server",
            "client_secret": "mcp-server-secret",
            "subject_token": "eyJ" + "A" * 20_000,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    clear_error(r)
    assert "longer than allowed" in r.json()["error_description"]


def test_too_many_parameters_are_refused(client):
    body = "&".join(f"p{i}=1" for i in range(200))
    clear_error(client.post(TOKEN, content=body, headers=FORM))


def test_duplicated_parameters_are_refused(client):
    body = "grant_type=password&grant_type=client_credentials&client_id=explorer-cli"
    r = client.post(TOKEN, content=body, headers=FORM)
    clear_error(r)
    assert r.json()["error_description"] == "duplicated parameter"


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "A" * 50, "Basic YWdlbnQ="])
def test_a_malformed_basic_header_is_a_client_error(client, header):
    r = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert r.status_code in (400, 401) and r.json()["error"]


def test_a_huge_bearer_token_at_userinfo_is_401(client):
    r = client.get(USERINFO, headers={"Authorization": "Bearer " + "A" * 40_000})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


def test_a_get_on_the_token_endpoint_is_405_json(client):
    r = client.get(TOKEN)
    assert r.status_code == 405 and r.json()["error"]


def test_an_unknown_path_is_404_json(client):
    r = client.get("/realms/agentauth/protocol/openid-connect/nope")
    assert r.status_code == 404 and r.json()["error"]


PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "scope",
    "refresh_token",
    "subject_token",
    "subject_token_type",
    "audience",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "token",
]
GRANTS = [
    "password",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]
values = st.one_of(
    st.sampled_from(
        GRANTS
        + [
            "explorer-cli",
            "mcp-server",
            "mcp-server-secret",
            "agent",
            "alice",
            "alice-pass",
            "a.b.c",
            "eyJ.e30.",
            "urn:ietf:params:oauth:token-type:access_token",
        ]
    ),
    st.text(max_size=40),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(st.sampled_from(PARAMS), values, max_size=8),
    dpop=st.one_of(st.none(), st.text(max_size=30), st.just("eyJhbGciOiJub25lIn0.e30.")),
    auth=st.one_of(st.none(), st.text(max_size=30).map(lambda t: "Basic " + t)),
)
def test_random_token_requests_never_crash_the_idp(client, form, dpop, auth):
    headers = {}
    if dpop is not None and dpop.isascii() and dpop.isprintable():
        headers["DPoP"] = dpop
    if auth is not None and auth.isascii() and auth.isprintable():
        headers["Authorization"] = auth
    r = client.post(TOKEN, data=form, headers=headers)
    assert r.status_code in (200, 400, 401, 403), r.text
    assert ("access_token" in r.json()) == (r.status_code == 200)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=300))
def test_random_bearer_tokens_get_401_at_userinfo_and_inactive_at_introspection(client, token):
    assert client.get(USERINFO, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    r = client.post(
        INTROSPECT,
        data={"token": token, "client_id": "mcp-server", "client_secret": "mcp-server-secret"},
    )
    assert r.status_code in (200, 400) and r.json().get("active") in (False, None)
