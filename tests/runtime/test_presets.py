"""Unit tests of the presets (the mechanisms patterns share), called directly, no servers.

The secure presets' attack cases (alg none, HS/RS confusion, wrong audience or issuer,
expired, DPoP faults, ...) run over HTTP in tests/security/; here are the building blocks'
own rules.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from runtime.identity import AuthError, DependencyError
from runtime.pattern_api import McpContext, ServiceContext
from runtime.presets import (
    actor_from,
    ask_opa,
    authorization_token,
    owner_of_api_key,
    presented_api_key,
    request_token,
    same_secret,
)
from runtime.presets.jwks import JwksCache
from runtime.services.world import World
from stack.clock import Clock
from stack.jose import b64url_encode


def request(*headers: tuple[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    return Request({"type": "http", "method": "GET", "path": "/expenses", "headers": raw})


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(
        handler or (lambda r: httpx.Response(500))))


def service_ctx(world: World, handler=None) -> ServiceContext:
    http = _client(handler)
    return ServiceContext(issuer="http://idp/realms/agentauth", audience="records-service",
                          jwks=JwksCache("http://idp/certs", http, Clock()), clock=Clock(),
                          http=http, timeout=1.0, opa_url="http://opa",
                          world=lambda: world)


def mcp_ctx(handler, clock: Clock | None = None) -> McpContext:
    http, clock = _client(handler), clock or Clock()
    return McpContext(issuer="http://idp/realms/agentauth", audience="mcp-server",
                      jwks=JwksCache("http://idp/certs", http, clock), clock=clock, http=http,
                      timeout=1.0, token_url="http://idp/token", client_secret="s")


@pytest.fixture
def world() -> World:
    return World.seed()


# -- API keys ---------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "error"), [
    ((), None),
    ((("X-API-Key", "a"), ("X-API-Key", "b")), "invalid_request"),
    ((("X-API-Key", "x" * 300),), "invalid_request"),
])
def test_api_key_header_missing_duplicated_or_huge_is_a_401(headers, error):
    with pytest.raises(AuthError) as caught:
        presented_api_key(request(*headers))
    assert caught.value.scheme == "ApiKey" and caught.value.error == error


def test_a_missing_credential_gets_a_bare_challenge_without_an_error_code():
    with pytest.raises(AuthError) as caught:
        authorization_token(request())
    assert "error=" not in caught.value.www_authenticate
    assert caught.value.www_authenticate.startswith("Bearer")


def test_same_secret_compares_whole_strings():
    assert same_secret("sk_agent_1", "sk_agent_1")
    assert not same_secret("sk_agent_1", "sk_agent_12")
    assert not same_secret("", "sk_agent_1")


def test_an_api_key_names_its_owner_and_a_disabled_owner_is_nobody(world):
    key = world.key_for("dave")
    assert owner_of_api_key(service_ctx(world), key).username == "dave"
    assert owner_of_api_key(service_ctx(world), key + "0") is None
    world.users["dave"].disabled = True
    assert owner_of_api_key(service_ctx(world), key) is None


# -- the Authorization header and the actor ------------------------------------------------

@pytest.mark.parametrize(("headers", "message"), [
    ((), "no access token"),
    ((("Authorization", "Basic x"),), "expected the Bearer"),
    ((("Authorization", "Bearer a"), ("Authorization", "Bearer b")), "more than one"),
    ((("Authorization", "Bearer " + "x" * 9000),), "too large"),
])
def test_authorization_header_refuses_malformed_headers(headers, message):
    with pytest.raises(AuthError, match=message):
        authorization_token(request(*headers))


def test_authorization_header_reads_the_scheme_it_is_told():
    assert authorization_token(request(("Authorization", "DPoP abc")), scheme="DPoP") == "abc"
    with pytest.raises(AuthError, match="DPoP"):
        authorization_token(request(("Authorization", "Bearer abc")), scheme="DPoP")


@pytest.mark.parametrize(("claims", "actor"), [
    ({"act": {"sub": "x", "client_id": "agent"}, "azp": "mcp-server"}, "agent"),
    ({"act": {"sub": "x"}, "azp": "mcp-server"}, "x"),
    ({"azp": "mcp-server"}, "mcp-server"),
    ({}, None),
])
def test_the_actor_is_act_when_present_else_azp(claims, actor):
    assert actor_from(claims) == actor


@pytest.mark.parametrize("act", [{"sub": 7}, {}, {"client_id": ["agent"]}])
def test_an_act_that_names_no_actor_is_refused(act):
    with pytest.raises(AuthError, match="act"):
        actor_from({"act": act, "azp": "mcp-server"})


# -- OPA ----------------------------------------------------------------------------------

def _opa(status: int, body: object):
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/data/agentauth/rbac/decision"
        return httpx.Response(status, json=body)
    return handler


async def test_ask_opa_obeys_the_decision_and_sends_the_input(world):
    seen = {}

    def handler(req: httpx.Request) -> httpx.Response:
        seen["body"] = req.read()
        return httpx.Response(200, json={"result": {"allow": False, "reason": "no"}})

    decision = await ask_opa(service_ctx(world, handler), "agentauth/rbac/decision",
                             {"action": "approve_expense", "token": {"role": "user"}})
    assert not decision.allow and decision.reason == "no" and decision.decided_by == "OPA"
    assert b'"approve_expense"' in seen["body"] and b'"role":"user"' in seen["body"]


@pytest.mark.parametrize("body", [{}, {"result": None}, {"result": {"allow": "yes"}}])
async def test_an_undefined_or_malformed_decision_is_a_denial(world, body):
    decision = await ask_opa(service_ctx(world, _opa(200, body)), "agentauth/rbac/decision",
                             {})
    assert not decision.allow and "undefined" in decision.reason


async def test_opa_errors_and_outages_fail_closed(world):
    with pytest.raises(DependencyError, match="HTTP 500"):
        await ask_opa(service_ctx(world, _opa(500, {"code": "internal_error"})),
                      "agentauth/rbac/decision", {})

    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(DependencyError, match="unreachable"):
        await ask_opa(service_ctx(world, down), "agentauth/rbac/decision", {})


# -- the token endpoint and its cache -------------------------------------------------------

def _jwt(claims: dict) -> str:
    import json
    head = b64url_encode(b'{"alg":"RS256"}')
    return f"{head}.{b64url_encode(json.dumps(claims).encode())}.sig"


def _token_endpoint(calls: list[dict], answer: dict | None = None, status: int = 200):
    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(dict(httpx.QueryParams(req.read().decode())))
        return httpx.Response(status, json=answer if answer is not None else {
            "access_token": f"t{len(calls)}", "token_type": "Bearer", "expires_in": 300})
    return handler


async def test_the_same_form_is_answered_from_the_cache():
    calls: list[dict] = []
    ctx = mcp_ctx(_token_endpoint(calls))
    form = {"grant_type": "client_credentials", "client_id": "agent"}
    first = await request_token(ctx, form)
    again = await request_token(ctx, dict(form))
    other = await request_token(ctx, {**form, "client_id": "mcp-server"})
    assert first == again and other.access_token == "t2" and len(calls) == 2


async def test_a_cached_exchange_never_outlives_the_subject_token():
    calls: list[dict] = []
    clock = Clock(fixed=1_000_000.0)
    ctx = mcp_ctx(_token_endpoint(calls), clock)
    subject = _jwt({"exp": 1_000_100})       # the user's token: 100 s left
    form = {"grant_type": "exchange", "subject_token": subject}
    await request_token(ctx, form)
    clock.advance(50)
    await request_token(ctx, form)
    assert len(calls) == 1
    clock.advance(60)                        # the user's token has expired: ask again
    await request_token(ctx, form)
    assert len(calls) == 2


async def test_an_answer_made_from_a_token_with_an_unreadable_expiry_is_not_cached():
    calls: list[dict] = []
    ctx = mcp_ctx(_token_endpoint(calls))
    form = {"subject_token": _jwt({"exp": "Infinity"})}
    await request_token(ctx, form)
    await request_token(ctx, form)
    assert len(calls) == 2


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, {"error": "invalid_grant", "error_description": "nope"}, AuthError),
    (200, {"token_type": "Bearer"}, AuthError),
    (200, {"access_token": "t", "expires_in": "soon"}, DependencyError),
    (200, {"access_token": "t", "expires_in": -5}, DependencyError),
    (503, {}, DependencyError),
])
async def test_refusals_and_bad_answers_from_the_token_endpoint_fail_closed(
        status, body, error):
    ctx = mcp_ctx(_token_endpoint([], body, status))
    with pytest.raises(error) as caught:
        await request_token(ctx, {"grant_type": "client_credentials"})
    assert len(ctx.tokens) == 0 and caught.value.decided_by == "IdP"


async def test_a_dpop_request_answered_with_an_unbound_token_is_refused():
    ctx = mcp_ctx(_token_endpoint([]))
    with pytest.raises(AuthError, match="did not bind"):
        await request_token(ctx, {"grant_type": "x"}, dpop_proof="proof")
