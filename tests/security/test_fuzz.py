"""Fuzzing (hypothesis): the token parsers and every service endpoint.

Properties: the parsers raise only their own error types (never a crash), nothing but the
genuine token verifies, no request without a valid credential gets a 2xx, and nothing gets a
5xx: not even a validly signed token whose claims are of the wrong JSON type or not finite.
The services run on a background event loop (`live` fixture), so these tests are sync.
"""

from __future__ import annotations

import json
import math
import string
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request

from runtime.battery.core import b64json, b64url, split_token
from runtime.identity import AuthError, DependencyError
from runtime.presets import authorization_token, verify_access_token
from runtime.tokens import DecodedToken, decode_unverified, find_tokens
from stack.jose import (
    DPoPError,
    ReplayCache,
    access_token_hash,
    generate_ec_key,
    jwk_thumbprint,
    public_jwk,
)
from stack.jose import verify_proof as verify_dpop_proof

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=_QUIET)
FEW = settings(max_examples=150, deadline=None, database=None, suppress_health_check=_QUIET)

json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63) | \
    st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4) |
                           st.dictionaries(st.text(max_size=10), kids, max_size=4),
                           max_leaves=10)
header_dicts = st.fixed_dictionaries(
    {}, optional={"alg": st.sampled_from(["RS256", "none", "HS256", "ES256", "rs256", "", None])
                  | json_scalars,
                  "kid": st.text(max_size=40) | json_scalars,
                  "typ": st.sampled_from(["JWT", "dpop+jwt", "at+jwt"]) | json_scalars,
                  "jku": st.just("http://127.0.0.1:9/jwks.json"),
                  "crit": st.lists(st.text(max_size=5), max_size=2)})
segments = st.text(alphabet=string.ascii_letters + string.digits + "-_=+/.", max_size=60)


def jwt_like() -> st.SearchStrategy[str]:
    structured = st.builds(lambda h, c, s: f"{b64json(h)}.{b64json(c)}.{s}",
                           header_dicts, st.dictionaries(st.text(max_size=12), json_values,
                                                         max_size=8), segments)
    raw = st.builds(lambda a, b, c: f"{a}.{b}.{c}", segments, segments, segments)
    return structured | raw | st.text(max_size=200)


def _same_token(a: str, b: str) -> bool:
    """Equal after base64url decoding (the last char of a segment has spare bits)."""
    try:
        return all(jwt.utils.base64url_decode(x) == jwt.utils.base64url_decode(y)
                   for x, y in zip(a.split("."), b.split("."), strict=True))
    except (ValueError, TypeError):
        return False


# -- token parsers ------------------------------------------------------------------------

@FUZZ
@given(token=jwt_like())
def test_verify_access_token_only_raises_auth_errors(live, token: str) -> None:
    ctx = live.runners["p05"].service_contexts["records"]
    try:
        claims = live.run(verify_access_token(token, ctx))
    except (AuthError, DependencyError):
        return
    pytest.fail(f"random input verified: {token!r} -> {claims}")


@FUZZ
@given(data=st.data())
def test_mutated_genuine_tokens_never_verify(live, data: st.DataObject) -> None:
    runner = live.runners["p05"]
    genuine = live.run(runner.login("alice"))
    ctx = runner.service_contexts["records"]
    header, claims, sig = split_token(genuine)
    kind = data.draw(st.sampled_from(["flip", "claims", "header", "truncate"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(genuine) - 1))
        token = genuine[:i] + data.draw(st.sampled_from("AQgw-_.x")) + genuine[i + 1:]
    elif kind == "claims":
        key = data.draw(st.sampled_from(sorted(claims)))
        claims[key] = data.draw(json_values)
        token = f"{b64json(header)}.{b64json(claims)}.{sig}"
    elif kind == "header":
        header.update(data.draw(header_dicts))
        token = f"{b64json(header)}.{b64json(claims)}.{sig}"
    else:
        token = genuine[: data.draw(st.integers(0, len(genuine) - 1))]
    try:
        live.run(verify_access_token(token, ctx))
    except (AuthError, DependencyError):
        return
    assert _same_token(token, genuine), f"a mutated token verified ({kind}): {token}"


def _request(headers: list[tuple[str, str]]) -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw,
                    "query_string": b""})


latin1 = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120)


@FUZZ
@given(headers=st.lists(st.tuples(st.sampled_from(["Authorization", "authorization", "DPoP",
                                                   "X-User", "Cookie"]),
                                  latin1 | st.builds(lambda s, t: f"{s} {t}", st.sampled_from(
                                      ["Bearer", "bearer", "DPoP", "Basic", ""]), latin1)),
                        max_size=4),
       scheme=st.sampled_from(["Bearer", "DPoP"]))
def test_authorization_token_returns_one_token_or_raises_auth_error(headers, scheme) -> None:
    try:
        token = authorization_token(_request(headers), scheme=scheme)
    except AuthError:
        return
    auths = [v for k, v in headers if k.lower() == "authorization"]
    assert len(auths) == 1 and auths[0].lower().startswith(scheme.lower() + " ")
    assert token and token == token.strip() and token in auths[0]


KEY = generate_ec_key()
OTHER_JKT = jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": b64url(b"x" * 32),
                           "y": b64url(b"y" * 32)})
OWN_JKT = jwk_thumbprint(public_jwk(KEY))
URL = "http://127.0.0.1:8000/expenses"


def _signed_proof(headers: dict[str, Any], claims: dict[str, Any], htm: str,
                  iat: float) -> str:
    """A proof really signed by KEY, with arbitrary header/claim overrides (signed by hand:
    pyjwt would refuse to encode some of the hostile values)."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(KEY), **headers}
    body = {"jti": "j", "htm": htm, "htu": URL, "iat": iat,
            "ath": access_token_hash("tok"), **claims}
    signing_input = f"{b64json(header)}.{b64json(body)}"
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input.encode(), KEY)
    return f"{signing_input}.{b64url(signature)}"


@FUZZ
@given(proof=jwt_like() | st.builds(
    _signed_proof,
    st.dictionaries(st.sampled_from(["typ", "kid", "jwk", "x5c"]), json_scalars,
                    max_size=2),
    st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), json_values,
                    max_size=3),
    st.sampled_from(["GET", "POST", "get"]), st.floats(0, 2e9)),
    htu=st.sampled_from([URL, "http://[::1", "ftp://x/", "", URL + "?q=1"]),
    expected=st.sampled_from([OTHER_JKT, OWN_JKT, None]))
def test_verify_proof_raises_only_dpop_errors_and_never_accepts_a_foreign_key(
        proof, htu, expected):
    try:
        jkt = verify_dpop_proof(proof, htm="GET", htu=htu, now=1_000_000.0,
                                replay=ReplayCache(), access_token="tok", expected_jkt=expected)
    except DPoPError:
        return
    assert expected != OTHER_JKT, f"a proof by another key was accepted: {proof}"
    assert jkt == OWN_JKT and htu.startswith(URL)


@FUZZ
@given(raw=jwt_like() | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_decode_unverified_never_raises(raw: str) -> None:
    decoded = decode_unverified(raw)
    assert decoded is None or (isinstance(decoded, DecodedToken)
                               and isinstance(decoded.header, dict)
                               and isinstance(decoded.claims, dict))
    if decoded is not None:
        assert isinstance(decoded.label, str)
    for found in find_tokens(raw + " " + raw):
        assert isinstance(found.claims, dict)


# -- service endpoints ----------------------------------------------------------------------

PATHS = ["/expenses", "/expenses/4/approve", "/expenses/999999999999999999999/approve",
         "/expenses/-1/approve", "/expenses/x/approve", "/documents", "/documents?query=%00",
         "/notes", "/users", "/users/bob/role", "/users/bob/disable", "/users/%2e%2e/disable",
         "/users/" + "a" * 300 + "/role", "//expenses", "/expenses/", "/EXPENSES",
         "/notes?user_id=alice"]
PUBLIC_DOCS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
paths = st.sampled_from(PATHS) | st.builds(
    lambda a, b: f"/{a}/{b}", st.sampled_from(["expenses", "users", "notes", "documents"]),
    st.text(alphabet=string.ascii_letters + string.digits + "%._~-", max_size=20))
header_names = st.sampled_from(["Authorization", "DPoP", "X-API-Key", "X-User",
                                "X-Forwarded-User", "Content-Type", "Transfer-Encoding",
                                "Host", "X-Forwarded-Host"])
header_values = st.sampled_from(["Bearer ", "DPoP ", "Bearer eyJhbGciOiJub25lIn0.e30.",
                                 "application/json", "chunked", "alice"]) | \
    st.text(alphabet=string.printable.strip(), max_size=60)
bodies = st.none() | st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | \
    json_values.map(lambda v: json.dumps(v).encode())


@pytest.fixture(scope="module")
def client() -> Any:
    with httpx.Client(timeout=10) as http:
        yield http


@FEW
@given(pattern=st.sampled_from(["p05", "p06", "p07", "p08"]),
       service=st.sampled_from(["records", "directory"]), method=methods, path=paths,
       headers=st.lists(st.tuples(header_names, header_values), max_size=4), body=bodies)
def test_endpoints_never_500_and_never_allow_without_a_valid_credential(
        live, client, pattern, service, method, path, headers, body) -> None:
    runner = live.runners[pattern]
    url = runner.service_urls[service] + path
    clean = [(k, v) for k, v in headers if k.lower() not in ("host", "transfer-encoding")]
    try:
        response = client.request(method, url, headers=clean, content=body)
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
        return   # the client refused to send it; nothing reached the service
    assert response.status_code < 500, (method, path, headers, response.text[:300])
    allowed = 200 <= response.status_code < 300
    assert not allowed or path.split("?")[0] in PUBLIC_DOCS, (
        method, path, headers, response.status_code, response.text[:300])


TIME_CLAIMS = ("exp", "iat", "nbf")
CLAIMS = (*TIME_CLAIMS, "sub", "aud", "azp", "iss", "typ", "act", "scope", "role",
          "preferred_username", "may_act")
hostile_values = json_values | st.floats() | st.integers(-10**400, 10**400) | st.just(
    "Infinity")


def _finite_number(value: Any) -> bool:
    """An RFC 7519 NumericDate: a JSON number a float can hold, not NaN or infinite."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:       # an integer too large for a float
        return False


@FEW
@given(claim=st.sampled_from(CLAIMS), value=hostile_values,
       target=st.sampled_from(["records", "mcp"]))
def test_validly_signed_tokens_with_hostile_claims_get_a_clear_4xx(live, client, claim, value,
                                                                    target) -> None:
    """alice's genuine p05 token with one claim replaced and a valid IdP signature, so the
    claim checks themselves are what meets it: at a service and at the MCP server's gate."""
    runner = live.runners["p05"]
    _, claims, _ = split_token(live.run(runner.login("alice")))
    key = runner.stack.idp.provider.keys.active
    body = json.dumps({**claims, claim: value}).encode()     # NaN, Infinity, 10**400 too
    signing_input = f"{b64json({'alg': 'RS256', 'typ': 'JWT', 'kid': key.kid})}.{b64url(body)}"
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input.encode(), key.private_key)
    headers = {"Authorization": f"Bearer {signing_input}.{b64url(signature)}"}
    if target == "records":
        response = client.get(runner.service_urls["records"] + "/expenses", headers=headers)
    else:
        response = client.post(runner.mcp_url, headers={
            **headers, "Accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code < 500, (claim, value, response.text[:300])
    if claim in TIME_CLAIMS and not _finite_number(value):
        assert response.status_code == 401, (claim, value, response.text[:300])


def test_the_fuzzer_reaches_real_handlers(live) -> None:
    """Guard against a fuzzer that only ever hits 404s: a bad credential gets the guard's
    401 with WWW-Authenticate on every data endpoint."""
    runner = live.runners["p05"]
    with httpx.Client(timeout=10) as client:
        for service, method, path in [("records", "GET", "/expenses"),
                                      ("records", "POST", "/notes"),
                                      ("directory", "GET", "/users"),
                                      ("directory", "POST", "/users/bob/disable")]:
            kwargs: dict[str, Any] = {"json": {"text": "x"}} if path == "/notes" else {}
            response = client.request(method, runner.service_urls[service] + path,
                                      headers={"Authorization": "Bearer x.y.z"}, **kwargs)
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer error=")
        response = client.get(live.runners["p08"].service_urls["records"] + "/expenses",
                              headers={"Authorization": "DPoP x.y.z", "DPoP": "x.y.z"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("DPoP error=")


@pytest.mark.parametrize(("service", "path", "content_type"), [
    ("records", "/expenses", None), ("records", "/notes", "text/plain"),
    ("directory", "/users/bob/role", None)])
def test_a_non_utf8_body_is_refused_without_a_500(live, client, service, path,
                                                   content_type) -> None:
    runner = live.runners["p05"]
    url = runner.service_urls[service] + path
    headers = {"Authorization": f"Bearer {live.run(runner.login('alice'))}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(url, content=b"\x80", headers=headers)
    assert response.status_code == 400, response.text
    assert "not valid UTF-8" in response.text
