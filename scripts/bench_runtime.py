"""Benchmark the runtime: start-up costs and one tool call through the whole chain.

Prints:
  * embedded stack start (IdP + OPA) and a pattern runtime's start (services, MCP server,
    scripted model) with the stack already up, cold (first in the process) and warm;
  * per pattern, a warm tool call through the whole chain (MCP tools/call -> handler ->
    service -> IdP/OPA as the pattern needs) next to the bare HTTP hops it contains,
    so the overhead beyond the hops is visible;
  * JWKS and exchanged-token caching: fetches and exchanges per N calls;
  * one decision of the embedded OPA (regopy, in process, no HTTP), which runs inline.

    uv run python scripts/bench_runtime.py [--calls N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runtime import event_loop
from runtime.http import make_client2
from runtime.pattern_api import ACTOR_TOKEN_HEADER
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from stack.opa import EmbeddedOPA

PATTERNS = ("p01", "p02", "p04", "p05", "p06", "p07", "p08")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


async def tool_calls(runner: PatternRunner, calls: int) -> tuple[list[float], list[float]]:
    """Time tools/call read_data from the MCP client's side, and the service hop inside it."""
    token = await runner.login("alice")
    headers = {}
    if runner.loaded.mcp.user_credential == "bearer_token":
        headers["Authorization"] = f"Bearer {token}"
    if runner.loaded.mcp.actor_credential == "actor_token":   # p07, p08: the agent as actor
        assert runner.agent.identity is not None
        headers[ACTOR_TOKEN_HEADER] = await runner.agent.identity.token()
    args: dict[str, object] = {"kind": "expenses"}
    if runner.loaded.mcp.user_credential == "api_key_argument":
        args["api_key"] = runner.world.key_for("alice")
    http = make_client2(runner.tap, runner.endpoints, "bench", headers=headers)
    totals, service_hops = [], []
    async with http, Client(streamable_http_client(runner.mcp_url, http_client=http)) as mcp:
        await mcp.call_tool("read_data", args)  # warm: connection, token exchange, JWKS
        for _ in range(calls):
            before = len(runner.tap.hops)
            started = time.perf_counter()
            result = await mcp.call_tool("read_data", args)
            totals.append(time.perf_counter() - started)
            assert '"expenses"' in result.content[0].text, result.content[0].text  # type: ignore[union-attr]
            hops = runner.tap.hops[before:]
            service_hops.append(sum(h.duration_ms for h in hops if h.kind == "service") / 1000)
    return totals, service_hops


async def main(calls: int) -> None:
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    stack = StackHandle(Settings())
    await stack.start()
    print(f"embedded stack (IdP + OPA) start:            {ms(time.perf_counter() - started)}")
    for label in ("cold (first in process)", "warm"):
        started = time.perf_counter()
        runner = PatternRunner("p01", stack=stack)
        await runner.start()
        up = time.perf_counter() - started
        started = time.perf_counter()
        await runner.stop()
        stopped = time.perf_counter() - started
        print(f"pattern runtime start, {label:<24} {ms(up)}   stop {ms(stopped)}")
    print(f"\nwarm tools/call read_data, {calls} calls each (median; p95):")
    print("pattern   whole chain            service hop inside   overhead beyond the hop")
    for pattern in PATTERNS:
        async with PatternRunner(pattern, stack=stack) as runner:
            totals, hops = await tool_calls(runner, calls)
            jwks = runner.service_contexts["records"].jwks.fetches
            exchanges = sum(1 for h in runner.tap.hops if h.summary.endswith("token-exchange"))
        p95 = sorted(totals)[int(len(totals) * 0.95) - 1]
        median, hop = statistics.median(totals), statistics.median(hops)
        print(f"{pattern}     {ms(median)} ({ms(p95)})   {ms(hop)}            {ms(median - hop)}"
              f"   jwks fetches {jwks}, exchanges {exchanges}")
    await stack.stop()
    opa = EmbeddedOPA()
    opa.load()
    decision = {"action": "read_notes", "resource": {"type": "note"},
                "token": {"sub": "8a1f6c1e-0000-4000-8000-00000000da7e", "azp": "mcp-server",
                          "preferred_username": "dave"}}
    timings = []
    for _ in range(calls * 4):
        started = time.perf_counter()
        opa.evaluate("agentauth/rebac/decision", decision)
        timings.append(time.perf_counter() - started)
    print(f"\nembedded OPA decision (rebac, in process): median {ms(statistics.median(timings))}"
          f"  (goal: < 5 ms, so it can run inline)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    event_loop.run_main(main(parser.parse_args().calls))
