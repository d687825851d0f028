"""Flooding the DPoP replay cache to make a captured proof replayable.

The cache used to evict its oldest entry when full: an attacker who captured a proof could
send enough fresh proofs of their own to push its jti out, then replay it inside its iat
window. Now a full cache refuses new keys (ReplayCacheFull, a 503) and never forgets a key
before the proof it stands for stops being acceptable; expired keys still free their room.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.presets.dpop import REPLAY_ENTRIES
from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle
from stack.clock import Clock
from stack.idp.core import DPOP_LEEWAY, DPOP_MAX_AGE
from stack.idp.testing import IdPTestClient
from stack.jose import (
    DPoPError,
    ReplayCache,
    ReplayCacheFull,
    create_proof,
    generate_ec_key,
    verify_proof,
)

NOW = 1_800_000_000.0
HTU = "https://api.example/expenses"


@pytest.fixture(scope="module")
def key():
    return generate_ec_key()


def test_a_full_cache_refuses_a_new_key_and_does_not_evict_a_live_one() -> None:
    cache = ReplayCache(max_entries=3, ttl=100)
    for i in range(3):
        assert cache.seen(f"j{i}", NOW) is False
    with pytest.raises(ReplayCacheFull) as full:
        cache.seen("flood", NOW + 1)
    assert not isinstance(full.value, DPoPError)  # a 503 for the caller, not a 401
    assert full.value.capacity == 3 and full.value.retry_after == pytest.approx(99)
    assert len(cache) == 3
    assert all(cache.seen(f"j{i}", NOW + 2) for i in range(3))  # still remembered


def test_expired_entries_free_room_for_new_keys() -> None:
    cache = ReplayCache(max_entries=2, ttl=10)
    cache.seen("a", NOW)
    cache.seen("b", NOW + 5, expires_at=NOW + 30)
    with pytest.raises(ReplayCacheFull):
        cache.seen("c", NOW + 10)  # "a" is live up to and including NOW + 10
    assert cache.seen("c", NOW + 10.5) is False  # "a" expired and made room
    assert len(cache) == 2 and cache.seen("b", NOW + 29)


def test_flooding_cannot_make_a_captured_proof_replayable(key) -> None:
    cache = ReplayCache(max_entries=20)
    captured = create_proof(key, "GET", HTU, iat=NOW)
    verify_proof(captured, htm="GET", htu=HTU, now=NOW, replay=cache)
    with pytest.raises(ReplayCacheFull):
        for i in range(50):
            flood = create_proof(key, "GET", HTU, iat=NOW + 1)
            verify_proof(flood, htm="GET", htu=HTU, now=NOW + 1 + i * 0.01, replay=cache)
    with pytest.raises(DPoPError) as exc:
        verify_proof(captured, htm="GET", htu=HTU, now=NOW + 2, replay=cache)
    assert exc.value.reason == "replay"


def test_a_proof_is_remembered_exactly_as_long_as_it_is_acceptable(key) -> None:
    params = inspect.signature(verify_proof).parameters
    max_age, leeway = params["max_age"].default, params["leeway"].default
    for iat in (NOW - max_age - leeway, NOW, NOW + leeway):  # oldest, on time, from the future
        cache = ReplayCache(max_entries=10, ttl=1)  # ttl is not what keeps a proof
        proof = create_proof(key, "GET", HTU, claims={"iat": iat})
        verify_proof(proof, htm="GET", htu=HTU, now=NOW, replay=cache)
        last = iat + max_age + leeway  # the last instant its iat passes the window
        with pytest.raises(DPoPError) as replayed:
            verify_proof(proof, htm="GET", htu=HTU, now=last, replay=cache)
        assert replayed.value.reason == "replay"
        with pytest.raises(DPoPError) as stale:
            verify_proof(proof, htm="GET", htu=HTU, now=last + 0.001, replay=cache)
        assert stale.value.reason == "iat"
        cache.seen("other", last + 0.001)
        assert len(cache) == 1  # and then its room is free


operations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6),                      # which key
        st.floats(min_value=0, max_value=6, allow_nan=False),        # time passes
        st.one_of(st.none(), st.floats(min_value=-2, max_value=25, allow_nan=False)),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=4), ops=operations)
def test_no_key_is_reported_unseen_while_it_is_live(capacity, ops) -> None:
    ttl = 10.0
    cache = ReplayCache(max_entries=capacity, ttl=ttl)
    live: dict[str, float] = {}  # the model: key -> last instant it must be remembered
    now = NOW
    for index, step, expiry in ops:
        now += step
        live = {k: until for k, until in live.items() if until >= now}
        key = f"k{index}"
        expires_at = None if expiry is None else now + expiry
        try:
            seen = cache.seen(key, now, expires_at=expires_at)
        except ReplayCacheFull:
            assert key not in live and len(live) >= capacity  # refused only when truly full
            continue
        assert seen is (key in live), (key, now, live)
        if not seen:
            live[key] = now + ttl if expires_at is None else expires_at


# --------------------------------------------------------------- the embedded IdP

async def test_the_idp_answers_503_when_its_replay_cache_is_full(key, caplog) -> None:
    clock = Clock()
    async with IdPTestClient.embedded(clock=clock) as kc:
        assert kc.idp is not None
        kc.idp.provider.replay.max_entries = 2
        proofs = [{"DPoP": create_proof(key, "POST", kc.token_url, iat=clock.now())}
                  for _ in range(3)]
        for proof in proofs[:2]:
            assert (await kc.client_credentials(headers=proof)).status_code == 200
        with caplog.at_level(logging.WARNING, logger="stack.idp"):
            r = await kc.client_credentials(headers=proofs[2])
        assert (r.status_code, r.json()) == (503, {
            "error": "temporarily_unavailable",
            "error_description": "DPoP replay cache full, try again later"})
        assert 1 <= int(r.headers["retry-after"]) <= DPOP_MAX_AGE + 2 * DPOP_LEEWAY
        assert "replay cache full" in caplog.text
        replayed = await kc.client_credentials(headers=proofs[0])
        assert replayed.json()["error_description"] == "DPoP proof has already been used"
        clock.advance(DPOP_MAX_AGE + DPOP_LEEWAY + 1)  # the stored proofs can no longer pass
        fresh = {"DPoP": create_proof(key, "POST", kc.token_url, iat=clock.now())}
        assert (await kc.client_credentials(headers=fresh)).status_code == 200


async def test_userinfo_answers_503_when_the_idp_replay_cache_is_full(key) -> None:
    clock = Clock()
    async with IdPTestClient.embedded(clock=clock) as kc:
        assert kc.idp is not None
        kc.idp.provider.replay.max_entries = 1
        login = await kc.code_flow("alice", scope="openid", headers={
            "DPoP": create_proof(key, "POST", kc.token_url, iat=clock.now())})
        token = login.json()["access_token"]
        url = f"{kc.issuer}/protocol/openid-connect/userinfo"
        r = await kc.http.get(url, headers={
            "Authorization": f"DPoP {token}",
            "DPoP": create_proof(key, "GET", url, access_token=token, iat=clock.now())})
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"


# --------------------------------------------------------------- the services (p08)

@pytest_asyncio.fixture
async def p08(stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner("p08", stack=stack) as runner:
        yield runner


async def test_the_services_cache_is_bounded_and_outlives_the_acceptance_window(p08) -> None:
    params = inspect.signature(verify_proof).parameters
    window = params["max_age"].default + 2 * params["leeway"].default
    for ctx in p08.service_contexts.values():
        assert ctx.replay.ttl >= window, (ctx.service, ctx.replay.ttl, window)
        assert 0 < ctx.replay.max_entries <= 100_000


async def test_a_burst_beyond_the_services_cache_is_refused_not_evicted(p08) -> None:
    from runtime.battery.core import Arena

    arena = Arena(p08)
    cred = await arena.credential("alice")
    ctx = p08.service_contexts["records"]
    ctx.replay.max_entries = 50               # shrink the bound to see it hold
    try:
        headers = [arena.present(cred, cred.token) for _ in range(80)]
        answers = await asyncio.gather(*(arena.call("GET", "records", "/expenses", h)
                                         for h in headers))
        statuses = [a.status_code for a in answers]
        assert statuses.count(200) == 50 and len(ctx.replay) == 50
        refused = [a for a in answers if a.status_code != 200]
        assert {a.status_code for a in refused} == {503}
        assert all("replay cache full" in a.text for a in refused)
        accepted = [h for h, a in zip(headers, answers, strict=True) if a.status_code == 200]
        again = await arena.call("GET", "records", "/expenses", accepted[0])
        assert again.status_code == 401  # the flood did not make an accepted proof replayable
    finally:
        ctx.replay.max_entries = REPLAY_ENTRIES
