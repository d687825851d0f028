"""The DPoP replay cache of the services: bounded in memory and in time, and its lifetime
covers the whole window in which the verifier accepts a proof's iat."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest_asyncio

from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from stack.jose import ReplayCache, verify_proof


@pytest_asyncio.fixture
async def p08() -> AsyncIterator[PatternRunner]:
    stack = StackHandle(Settings())
    await stack.start()
    async with PatternRunner("p08", stack=stack) as runner:
        yield runner
    await stack.stop()


def test_the_cache_is_bounded_in_entries_and_forgets_after_its_ttl() -> None:
    cache = ReplayCache(max_entries=1000, ttl=120)
    for i in range(5000):
        assert cache.seen(f"jkt:{i}", now=1000.0 + i * 0.001) is False
    assert len(cache) == 1000                          # bounded in memory
    assert cache.seen("jkt:4999", now=1010.0) is True  # recent ones are remembered
    assert cache.seen("jkt:0", now=1010.0) is False    # the oldest were evicted
    cache.seen("late", now=1000.0 + 200)               # any call purges the expired
    assert len(cache) == 1                             # bounded in time


async def test_the_services_cache_outlives_the_proof_acceptance_window(p08) -> None:
    params = inspect.signature(verify_proof).parameters
    max_age, leeway = params["max_age"].default, params["leeway"].default
    # a proof is accepted from iat = now + leeway until iat + max_age + leeway, so its jti
    # must be remembered for at least max_age + 2 * leeway after it is first seen
    window = max_age + 2 * leeway
    for ctx in p08.service_contexts.values():
        assert ctx.replay.ttl >= window, (ctx.service, ctx.replay.ttl, window)
        assert 0 < ctx.replay.max_entries <= 100_000
    print(f"replay cache: {p08.service_contexts['records'].replay.max_entries} entries, "
          f"ttl {p08.service_contexts['records'].replay.ttl:g} s >= acceptance window "
          f"{window:g} s")


async def test_a_burst_of_valid_requests_keeps_the_services_cache_bounded(p08) -> None:
    import asyncio

    from runtime.battery.core import Arena

    arena = Arena(p08)
    cred = await arena.credential("alice")
    ctx = p08.service_contexts["records"]
    ctx.replay.max_entries = 50               # shrink the bound to see it hold
    try:
        for _ in range(4):
            statuses = await asyncio.gather(*(arena.call(
                "GET", "records", "/expenses", arena.present(cred, cred.token))
                for _ in range(40)))
            assert {s.status_code for s in statuses} == {200}
            assert len(ctx.replay) <= 50
    finally:
        ctx.replay.max_entries = 10_000
