"""The services' JWKS cache: rate-limited refresh under a flood of unknown kids (counted in
the cache and on the wire), key rotation picked up after at most one refresh, and an IdP
that stops answering: known keys for a bounded time, then nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import jwt.algorithms
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.battery.core import split_token
from runtime.identity import AuthError, DependencyError
from runtime.presets.jwks import JwksCache
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from stack.clock import Clock

CERTS = "/protocol/openid-connect/certs"


@pytest_asyncio.fixture
async def p05() -> AsyncIterator[PatternRunner]:
    stack = StackHandle(Settings())
    await stack.start()
    async with PatternRunner("p05", stack=stack) as runner:
        yield runner
    await stack.stop()


def _wire_fetches(runner: PatternRunner) -> int:
    """JWKS requests the records service made (the MCP server keeps its own cache)."""
    return sum(1 for h in runner.tap.hops if h.url.endswith(CERTS) and h.source == "records")


async def _get(runner: PatternRunner, token: str) -> int:
    response = await runner.attack("GET", runner.service_urls["records"] + "/expenses",
                                   headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_a_concurrent_flood_of_unknown_kids_costs_at_most_one_jwks_fetch(p05):
    ctx = p05.service_contexts["records"]
    token = await p05.login("alice")
    # cache warm, and 50 keep-alive connections open so the flood really arrives at once
    assert set(await asyncio.gather(*(_get(p05, token) for _ in range(50)))) == {200}
    assert ctx.jwks.fetches == 1 and _wire_fetches(p05) == 1   # no cold-start stampede
    p05.clock.advance(ctx.jwks.min_refresh + 1)     # a refresh is allowed again
    header, claims, _ = split_token(token)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    before, wire_before = ctx.jwks.fetches, _wire_fetches(p05)
    forged = [jwt.encode(claims, key, "RS256", headers={"kid": uuid.uuid4().hex})
              for _ in range(50)]
    statuses = await asyncio.gather(*(_get(p05, t) for t in forged))
    assert set(statuses) == {401}
    assert ctx.jwks.fetches - before <= 1
    assert _wire_fetches(p05) - wire_before <= 1
    # and then none at all within the rate-limit window
    statuses = await asyncio.gather(*(_get(p05, t) for t in forged[:10]))
    assert set(statuses) == {401} and ctx.jwks.fetches - before <= 1
    print(f"50 + 10 unknown kids: {ctx.jwks.fetches - before} JWKS refresh, "
          f"{_wire_fetches(p05) - wire_before} JWKS request(s) on the wire")


async def test_a_rotated_key_is_picked_up_after_at_most_one_refresh(p05):
    ctx = p05.service_contexts["records"]
    idp = p05.stack.idp
    old_token = await p05.login("alice")
    assert await _get(p05, old_token) == 200
    fetches = ctx.jwks.fetches
    new_kid = idp.rotate_key()  # type: ignore[union-attr]
    p05.reset()   # drop the cached login token; the clock is back to now
    # the caches fetched the JWKS less than min_refresh ago: a new kid waits for the window
    p05.clock.advance(ctx.jwks.min_refresh)
    new_token = await p05.login("alice")
    assert split_token(new_token)[0]["kid"] == new_kid
    assert await _get(p05, new_token) == 200
    assert ctx.jwks.fetches == fetches + 1
    assert await _get(p05, old_token) == 200      # the retired key stays published (grace)
    assert await _get(p05, new_token) == 200 and ctx.jwks.fetches == fetches + 1


class _Idp:
    """A JWKS endpoint that answers with one key, or is down (connection refused)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.up, self.requests = True, 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return httpx.Response(200, json={"keys": [{**jwk, "kid": "k1", "use": "sig",
                                                   "alg": "RS256"}]})


async def test_while_the_idp_is_down_known_keys_serve_for_at_most_max_age_then_fail_closed():
    idp, clock = _Idp(), Clock(fixed=1_000_000.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handler)) as http:
        cache = JwksCache("http://idp/certs", http, clock, ttl=300, min_refresh=10,
                          max_age=3600)
        assert (await cache.key("k1")).key_id == "k1" and idp.requests == 1
        idp.up = False
        clock.advance(301)                          # expired: a refresh is tried, and fails
        assert (await cache.key("k1")).key_id == "k1" and idp.requests == 2
        clock.advance(5)                            # a failed refresh is retried after
        await cache.key("k1")                       # min_refresh, not after another ttl
        assert idp.requests == 2
        clock.advance(5)
        await cache.key("k1")
        assert idp.requests == 3
        clock.advance(3600 - 311)                   # exactly max_age after the last fetch
        await cache.key("k1")
        clock.advance(1)                            # past it: nothing verifies any more
        with pytest.raises(DependencyError, match="not refreshed for over 3600s") as refused:
            await cache.key("k1")
        assert refused.value.decided_by == "IdP"
        idp.up = True                               # the IdP answers again: so do we
        clock.advance(10)
        assert (await cache.key("k1")).key_id == "k1" and cache.fetches == 2


async def test_an_unknown_kid_while_the_idp_is_down_is_refused_and_retried_at_most_every_10s():
    idp, clock = _Idp(), Clock(fixed=1_000_000.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handler)) as http:
        cache = JwksCache("http://idp/certs", http, clock)
        await cache.key("k1")
        idp.up = False
        clock.advance(cache.min_refresh)
        for _ in range(20):
            with pytest.raises(AuthError, match="unknown key"):
                await cache.key("rotated-in")
        assert idp.requests == 2                    # one retry for twenty requests


async def test_with_no_keys_yet_an_idp_that_is_down_fails_closed_on_every_request():
    idp, clock = _Idp(), Clock(fixed=1_000_000.0)
    idp.up = False
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handler)) as http:
        cache = JwksCache("http://idp/certs", http, clock)
        for _ in range(3):
            with pytest.raises(DependencyError, match="ConnectError"):
                await cache.key("k1")
        idp.up = True
        assert (await cache.key("k1")).key_id == "k1"
