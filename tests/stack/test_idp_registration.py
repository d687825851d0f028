"""Embedded IdP, dynamic client registration (RFC 7591) as an attacker tries it: bad bodies
and odd JSON types are 400 `invalid_client_metadata` (never a 500), credentials are not
accepted, and the realm's Max Clients policy holds. The happy paths, on both stacks, are in
tests/contract/test_idp_contract.py."""

from __future__ import annotations

import json

import pytest

from stack.idp.registration import MAX_BODY

REDIRECT = "http://127.0.0.1/callback"


async def post(kc, body: bytes | str, content_type: str = "application/json", **headers: str):
    data = body.encode() if isinstance(body, str) else body
    return await kc.http.post(kc.path("clients-registrations/openid-connect"), content=data,
                              headers={"Content-Type": content_type, **headers})


def metadata(**fields: object) -> str:
    return json.dumps({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                       **fields})


@pytest.mark.parametrize("body", [
    "not json", "[1, 2]", '"a string"', "null", "{", '{"redirect_uris": NaN}',
    '{"redirect_uris": [Infinity]}', "[" * 5000 + "]" * 5000,
])
async def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(kc, body):
    r = await post(kc, body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text


@pytest.mark.parametrize("fields", [
    {"redirect_uris": REDIRECT}, {"redirect_uris": [1]}, {"redirect_uris": [{"a": 1}]},
    {"redirect_uris": [""]}, {"token_endpoint_auth_method": ["none"]},
    {"token_endpoint_auth_method": "private_key_jwt"}, {"grant_types": "authorization_code"},
    {"grant_types": ["password"]}, {"grant_types": ["client_credentials"]},
    {"grant_types": ["refresh_token"]}, {"response_types": ["token"]},
    {"scope": ["mcp:tools"]}, {"scope": 1e400}, {"client_name": {"x": 1}},
    {"client_name": "x" * 256}, {"scope": " ".join(f"s{i}" for i in range(40))},
])
async def test_wrong_types_and_unsupported_values_are_refused_with_a_reason(kc, fields):
    r = await post(kc, metadata(**fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"] in {"invalid_client_metadata", "invalid_redirect_uri"}
    assert r.json()["error_description"]


@pytest.mark.parametrize("uri", [
    "javascript:alert(1)", "http://127.0.0.1/cb#frag", "ftp://127.0.0.1/cb", "/relative",
    "http://127.0.0.1:99999/cb", "http://[::1/cb", "custom.scheme:/cb",
])
async def test_a_redirect_uri_that_is_not_an_http_url_is_invalid_redirect_uri(kc, uri):
    r = await post(kc, metadata(redirect_uris=[uri]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", r.text


async def test_unknown_metadata_is_ignored_as_rfc_7591_says(kc):
    r = await post(kc, metadata(software_id="x", jwks={"keys": []}, logo_uri=5))
    assert r.status_code == 201 and "software_id" not in r.json()


async def test_only_json_is_read(kc):
    r = await post(kc, "redirect_uris=http%3A%2F%2F127.0.0.1%2Fcb",
                   content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"


async def test_an_oversized_body_is_refused_before_it_is_parsed(kc):
    r = await post(kc, metadata(client_name="x" * (MAX_BODY + 1)))
    assert r.status_code == 400


@pytest.mark.parametrize("authorization", ["Bearer anything", "Basic ZXhwbG9yZXItY2xpOg=="])
async def test_a_credential_is_not_an_initial_access_token_here(kc, authorization):
    r = await post(kc, metadata(), Authorization=authorization)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_the_max_clients_policy_holds_and_nothing_is_evicted(kc):
    first = (await post(kc, metadata())).json()["client_id"]
    while (r := await post(kc, metadata())).status_code == 201:
        pass
    assert r.status_code == 403 and "Max Clients Limit" in r.json()["error_description"]
    assert len(kc.idp.provider.clients) == 200 and first in kc.idp.provider.clients
    assert "explorer-cli" in kc.idp.provider.clients   # the realm's own clients still there


async def test_a_registered_client_is_this_idps_only(kc):
    from stack.idp import IdentityProvider
    from stack.idp.realm_file import load_realm

    client_id = (await post(kc, metadata())).json()["client_id"]
    assert client_id in kc.idp.provider.clients
    other = IdentityProvider(load_realm(), kc.idp.provider.clock)
    assert client_id not in other.clients and client_id not in other.realm.clients
