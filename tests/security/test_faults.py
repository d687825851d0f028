"""Fail closed when a dependency is down, slow or broken, and recover without a restart.

IdP faults: every IdP URL the runtime uses (the login token endpoint, the MCP server's
token endpoint, the services' JWKS) is pointed at a closed port ("down") or at a server
that hangs ("slow"), with cold caches, as after a restart during the outage. OPA faults use
the embedded OPA's `fault` toggle. During each fault: every request through the MCP server,
every direct request with a credential obtained before the fault, and every agent turn is
refused with a clear 401/403/503 and reason, within the configured timeout; no audit record
allows anything. Then the dependency comes back and the same requests succeed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from runtime.battery.core import Arena, Credential
from runtime.battery.servers import SlowServer, closed_url
from runtime.errors import RunnerError
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle

TIMEOUT = 0.3
PATTERNS = ("p05", "p06", "p07", "p08")
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclasses.dataclass
class Row:
    fault: str
    pattern: str
    path: str
    status: int | None
    ms: float
    reason: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arenas() -> AsyncIterator[dict[str, Arena]]:
    settings = Settings(timeout=TIMEOUT)
    stack = StackHandle(settings)
    await stack.start()
    runners = [await PatternRunner(p, settings=settings, stack=stack).start() for p in PATTERNS]
    arenas = {r.id: Arena(r) for r in runners}
    for arena in arenas.values():
        await _warm(arena)
    try:
        yield arenas
    finally:
        for runner in runners:
            await runner.stop()
        await stack.stop()


async def _probe(a: Arena, fault: str, login: str, cred: Credential,
                 both_tools: bool = True) -> list[Row]:
    """Through the MCP server (a read, and an admin list), and straight to the service."""
    rows = []
    tools = (("read_data", {"kind": "expenses"}, "mcp read_data"),
             ("manage_users", {"action": "list"}, "mcp manage_users"))
    for tool, args, path in tools if both_tools else tools[:1]:
        started = time.perf_counter()
        result = await a.mcp_call(tool, args, login)
        ms = (time.perf_counter() - started) * 1000
        err = result.get("error", {})
        rows.append(Row(fault, a.pattern, path, err.get("status", 200), ms,
                        str(err.get("reason", "ok"))))
    started = time.perf_counter()
    direct = a.present(cred, cred.token)   # a fresh proof under 08
    response = await a.call("GET", "records", "/expenses", direct)
    ms = (time.perf_counter() - started) * 1000
    detail = response.json().get("detail", {}) if response.status_code >= 400 else {}
    rows.append(Row(fault, a.pattern, "direct GET /expenses", response.status_code, ms,
                    str(detail.get("reason", "ok")) if isinstance(detail, dict) else "?"))
    return rows


def _print(rows: list[Row], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print()
        for r in rows:
            print(f"  {r.fault:<14} {r.pattern} {r.path:<22} HTTP {r.status}  "
                  f"{r.ms:7.1f} ms  {r.reason[:80]}")


def _assert_fail_closed(a: Arena, rows: list[Row], statuses: set[int]) -> None:
    for row in rows:
        assert row.status in statuses, row
        assert row.reason and row.reason != "ok", row
        # bounded: at most one timeout per dependency call on the request's path
        assert row.ms < 3 * TIMEOUT * 1000 + 500, row
    allowed = [r for r in a.runner.world.audit if r.allowed]
    assert not allowed, f"allowed during the fault: {allowed}"


async def _legit(a: Arena, tries: int = 3) -> tuple[str, Credential]:
    """alice's login and credential while nothing is broken. With a 0.3 s budget for every
    hop, a pause of the shared loop (a cold path, a full garbage collection of the suite's
    heap) can time a healthy login out; a login that works is where these tests start and
    end, not what they check, so it gets three tries. A broken one fails all three."""
    for attempt in range(tries):
        try:
            return await a.runner.login("alice"), await a.credential("alice")
        except RunnerError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


async def _recovered(a: Arena, fault: str, login: str, cred: Credential,
                     tries: int = 3) -> list[Row]:
    """The probe once the dependency is back: every path answers 200. As for `_legit`, a
    path that timed out (the 0.3 s budget against a paused loop) is probed again, up to
    three times; any other refusal fails at once."""
    for attempt in range(tries):
        rows = await _probe(a, fault, login, cred)
        timed_out = [r for r in rows if r.status != 200 and "Timeout" in r.reason]
        if not timed_out or attempt == tries - 1:
            break
    assert {r.status for r in rows} == {200}, rows
    return rows


async def _warm(a: Arena) -> None:
    """Each runner's cold paths, once, before any test; then the tokens are dropped."""
    await _legit(a)
    a.runner.reset()


def _idp_urls(arenas: dict[str, Arena], url: str | None) -> dict[str, Any]:
    """Point every IdP URL at `url` (None: restore); caches cold. Returns the originals."""
    any_runner = next(iter(arenas.values())).runner
    stack = any_runner.stack
    original = stack.__dict__.setdefault("_battery_original_endpoints", stack.endpoints)
    if url is None:
        stack.endpoints = original
    else:
        stack.endpoints = dataclasses.replace(
            original, token_url=url + "/realms/agentauth/protocol/openid-connect/token",
            jwks_url=url + "/realms/agentauth/protocol/openid-connect/certs")
    for a in arenas.values():
        endpoints = stack.endpoints
        mcp = a.runner.mcp_context
        mcp.token_url = endpoints.token_url
        for ctx in (*a.runner.service_contexts.values(), mcp):
            ctx.jwks.url = endpoints.jwks_url
            ctx.jwks.clear()
        mcp.tokens.clear()   # cold token caches; the MCP key stays
    return {"endpoints": original}


@pytest.mark.parametrize("mode", ["down", "slow"])
async def test_idp_down_or_slow_denies_everything_then_recovers(arenas, mode, capsys):
    slow = SlowServer(delay=TIMEOUT + 0.5)
    before = {p: await _legit(a) for p, a in arenas.items()}
    url = closed_url() if mode == "down" else await slow.start()
    rows: list[Row] = []
    try:
        _idp_urls(arenas, url)
        for pattern, a in arenas.items():
            a.runner.world.audit.clear()
            login, cred = before[pattern]
            probe = await _probe(a, f"IdP {mode}", login, cred, both_tools=mode == "down")
            _assert_fail_closed(a, probe, {503})
            if mode == "down" or pattern == "p05":   # a hung login costs a timeout each
                turn = await a.runner.run_as("bob", "What are my expenses?")
                # the agent's login fails, or (token cached) every tool call is refused
                assert turn.error or all(c.refused for c in turn.tool_calls), turn
                assert "expenses" not in turn.answer.split("\n", 1)[0].lower() or \
                    "fail" in turn.answer.lower() or turn.error, turn.answer
                assert not [r for r in a.runner.world.audit if r.allowed]
            rows += probe
    finally:
        _idp_urls(arenas, None)
        await slow.stop()
    for a in arenas.values():   # recovery, same processes, no restart
        a.runner.reset()
        login, direct = await _legit(a)
        recovered = await _recovered(a, "IdP back", login, direct)
        turn = await a.runner.run_as("bob", "What are my expenses?")
        assert turn.error is None and "expenses" in turn.answer
        rows += recovered
    _print(rows, capsys)


@pytest.mark.parametrize(("fault", "statuses"), [
    ("error", {503}), ("undefined", {403}), ("slow", {503})])
async def test_opa_faults_deny_everything_then_recover(arenas, fault, statuses, capsys):
    opa = next(iter(arenas.values())).runner.stack.opa
    opa.slow_seconds = TIMEOUT + 0.5  # type: ignore[union-attr]
    policy = {p: a for p, a in arenas.items() if p != "p05"}   # 06-08 ask OPA
    before = {p: await _legit(a) for p, a in policy.items()}
    rows: list[Row] = []
    opa.fault = fault  # type: ignore[union-attr]
    try:
        for pattern, a in policy.items():
            a.runner.world.audit.clear()
            probe = await _probe(a, f"OPA {fault}", *before[pattern],
                                 both_tools=fault != "slow")
            _assert_fail_closed(a, probe, statuses)
            deciders = {r.decided_by for r in a.runner.world.audit}
            assert deciders == {"OPA"}, deciders
            rows += probe
    finally:
        opa.fault = None  # type: ignore[union-attr]
    for pattern, a in policy.items():
        a.runner.world.audit.clear()
        recovered = await _recovered(a, "OPA back", *before[pattern])
        rows += recovered
    _print(rows, capsys)


async def test_services_and_mcp_server_use_the_configured_bounded_timeout(arenas):
    for a in arenas.values():
        assert a.runner.mcp_context.timeout == TIMEOUT
        for ctx in a.runner.service_contexts.values():
            assert ctx.timeout == TIMEOUT
            assert ctx.http.timeout.read == TIMEOUT   # JWKS fetches use the client's timeout
        assert a.runner.mcp_context.http.timeout.read == TIMEOUT
