"""Unit tests of the presets the patterns are made of, called directly (no servers).

The secure presets' attack cases (alg none, HS/RS confusion, wrong audience/issuer, expired,
DPoP faults, ...) run over HTTP in tests/security/; here are the building blocks' own rules.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from runtime.identity import AuthError, DependencyError, Identity
from runtime.pattern_api import ServiceContext, StackEndpoints
from runtime.presets import (
    allow_all,
    anonymous,
    opa_policy,
    service_rbac,
    shared_key_identity,
    user_key_identity,
)
from runtime.presets.jwt_verify import actor_of, bearer_from
from runtime.services.world import World
from stack.clock import Clock
from stack.jose import ReplayCache


def request(*headers: tuple[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    return Request({"type": "http", "method": "GET", "path": "/expenses", "headers": raw})


def context(world: World, handler=None) -> ServiceContext:
    transport = httpx.MockTransport(handler or (lambda r: httpx.Response(500)))
    return ServiceContext(
        service="records", audience="records-service",
        stack=StackEndpoints("http://idp/realms/agentauth", "http://idp/t", "http://idp/c",
                             "http://opa"),
        clock=Clock(), http=httpx.AsyncClient(transport=transport), world=lambda: world,
        jwks=None, replay=ReplayCache(), timeout=1.0)


@pytest.fixture
def world() -> World:
    return World.seed()


async def test_anonymous_identity_and_allow_all_decided_by_nobody(world):
    identity = await anonymous(request(), context(world))
    decision = await allow_all(identity, "disable_user", {}, context(world))
    assert identity.method == "anonymous" and decision.allow and decision.decided_by == "nobody"


async def test_shared_key_names_the_agent_not_a_user(world):
    identity = await shared_key_identity(request(("X-API-Key", world.shared_key)),
                                         context(world))
    assert identity.method == "shared_key" and identity.user_id is None
    assert identity.actor == "agent"


@pytest.mark.parametrize("headers", [(), (("X-API-Key", "sk_agent_0000000000"),),
                                     (("X-API-Key", "a"), ("X-API-Key", "b"))])
async def test_shared_key_refuses_missing_wrong_or_duplicate_keys(world, headers):
    with pytest.raises(AuthError) as caught:
        await shared_key_identity(request(*headers), context(world))
    assert caught.value.scheme == "ApiKey"


async def test_user_key_maps_to_its_owner_and_a_disabled_user_is_refused(world):
    key = world.key_for("dave")
    identity = await user_key_identity(request(("X-API-Key", key)), context(world))
    assert (identity.method, identity.user_id, identity.role) == ("user_key", "dave", "readonly")
    world.users["dave"].disabled = True
    with pytest.raises(AuthError, match="invalid API key"):
        await user_key_identity(request(("X-API-Key", key)), context(world))


@pytest.mark.parametrize(("role", "action", "allowed"), [
    ("readonly", "read_expenses", True), ("readonly", "post_note", False),
    ("user", "post_note", True), ("user", "approve_expense", False),
    ("admin", "approve_expense", True), ("admin", "disable_user", True),
    ("user", "set_role", False), ("admin", "launch_missiles", False),
])
async def test_service_rbac_table(world, role, action, allowed):
    identity = Identity(method="user_key", user_id="x", claims={"role": role})
    decision = await service_rbac(identity, action, {}, context(world))
    assert decision.allow is allowed and decision.decided_by == "service"


def _opa(status: int, body: object):
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/data/agentauth/rbac/decision"
        return httpx.Response(status, json=body)
    return handler


async def test_opa_policy_obeys_the_decision_and_sends_the_claims(world):
    seen = {}

    def handler(req: httpx.Request) -> httpx.Response:
        seen["body"] = req.read()
        return httpx.Response(200, json={"result": {"allow": False, "reason": "no"}})

    identity = Identity(method="jwt", user_id="bob", claims={"role": "user"})
    decision = await opa_policy("agentauth/rbac/decision")(
        identity, "approve_expense", {"id": 4}, context(world, handler))
    assert not decision.allow and decision.reason == "no" and decision.decided_by == "OPA"
    assert b'"approve_expense"' in seen["body"] and b'"role":"user"' in seen["body"]


@pytest.mark.parametrize("body", [{}, {"result": None}, {"result": {"allow": "yes"}}])
async def test_an_undefined_or_malformed_decision_is_a_denial(world, body):
    authorize = opa_policy("agentauth/rbac/decision")
    decision = await authorize(Identity(method="jwt"), "read_notes", {},
                               context(world, _opa(200, body)))
    assert not decision.allow and "undefined" in decision.reason


async def test_opa_errors_and_outages_fail_closed(world):
    authorize = opa_policy("agentauth/rbac/decision")
    with pytest.raises(DependencyError, match="HTTP 500"):
        await authorize(Identity(method="jwt"), "read_notes", {},
                        context(world, _opa(500, {"code": "internal_error"})))

    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(DependencyError, match="unreachable"):
        await authorize(Identity(method="jwt"), "read_notes", {}, context(world, down))


@pytest.mark.parametrize(("headers", "message"), [
    ((), "no access token"),
    ((("Authorization", "Basic x"),), "expected the Bearer"),
    ((("Authorization", "Bearer a"), ("Authorization", "Bearer b")), "more than one"),
    ((("Authorization", "Bearer " + "x" * 9000),), "too large"),
])
def test_bearer_extraction_refuses_malformed_headers(headers, message):
    with pytest.raises(AuthError, match=message):
        bearer_from(request(*headers))


def test_actor_comes_from_act_else_azp_only_when_asked():
    assert actor_of({"act": {"sub": "x", "client_id": "agent"}}, azp_is_actor=False) == "agent"
    assert actor_of({"azp": "mcp-server"}, azp_is_actor=True) == "mcp-server"
    assert actor_of({"azp": "mcp-server"}, azp_is_actor=False) is None
