"""`agent-auth serve`: one pattern's MCP server and tool services, for clients of your own.

The MCP Inspector, curl, or an MCP client you are writing talks to the pattern's real MCP
server (streamable HTTP on 127.0.0.1) as the agent would. The command prints the server's
URL, its protected resource metadata (from pattern 05 on), and what a client must send as
the chosen user: the user's access token for the MCP server (got by the MCP authorization
flow, as the agent gets it), the agent's own token where the pattern wants an actor, or the
user's API key as a tool argument. Then it prints the hops your calls cause (the MCP server
to the IdP and the services, the services to OPA, the audit log) as they happen, until
Ctrl-C. Enter prints fresh credentials (access tokens live five minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from agent_auth.commands import hop_line
from runtime import Hop, PatternRunner, Settings, decode_unverified, hop_to_dict
from runtime.pattern_api import ACTOR_TOKEN_HEADER

INSPECTOR = "npx @modelcontextprotocol/inspector"


@dataclass
class Credentials:
    """What a client sends to the MCP server as one user under one pattern."""

    headers: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, str] = field(default_factory=dict)   # added to every tool call
    expires_at: float | None = None
    notes: list[str] = field(default_factory=list)


async def credentials(runner: PatternRunner, user: str) -> Credentials:
    plugin, found = runner.loaded.mcp, Credentials()
    if plugin.user_credential == "bearer_token":
        token = await runner.login(user)
        found.headers["Authorization"] = f"Bearer {token}"
        decoded = decode_unverified(token)
        exp = decoded.claims.get("exp") if decoded else None
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            found.expires_at = float(exp)
        found.notes.append(f"Authorization: {user}'s access token for this MCP server, got as "
                           f"the MCP authorization flow gets it (401, metadata, the IdP's "
                           f"login page)")
    elif plugin.user_credential == "api_key_argument":
        found.arguments["api_key"] = runner.world.key_for(user)
        found.notes.append(f"api_key: {user}'s API key, as a tool argument (the pattern "
                           f"has the model or the runtime pass it)")
    if plugin.actor_credential == "actor_token" and runner.agent.identity is not None:
        found.headers[ACTOR_TOKEN_HEADER] = await runner.agent.identity.token()
        found.notes.append(f"{ACTOR_TOKEN_HEADER}: the agent's own token (the actor), got "
                           f"with a client secret only the agent holds")
    if not found.headers and not found.arguments:
        found.notes.append("nothing: under this pattern the MCP server asks no credential "
                           "of its client")
    return found


def _initialize() -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "curl", "version": "0"}}})


def variable(name: str) -> str:
    """The shell variable a credential is printed as: X-Actor-Token -> X_ACTOR_TOKEN."""
    return name.upper().replace("-", "_")


def _inspector_line(url: str, found: Credentials) -> str:
    """The Inspector's CLI calling read_data with what a client sends; the credentials are
    the shell variables printed above it (tokens are long: print them once)."""
    words = [INSPECTOR, "--cli", shlex.quote(url), "--transport", "http", "--method",
             "tools/call", "--tool-name", "read_data", "--tool-arg", "kind=expenses"]
    for name in found.arguments:
        words += ["--tool-arg", f'"{name}=${variable(name)}"']
    for name in found.headers:
        words += ["--header", f'"{name}: ${variable(name)}"']
    return " ".join(words)


def _until(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return ""
    stamp = time.strftime("%H:%M:%S", time.localtime(expires_at))
    return f"; the access token expires at {stamp}, in {max(0, int(expires_at - now))} s"


def _assignments(found: Credentials) -> list[str]:
    values = {**found.headers, **found.arguments}
    return [f"  {variable(name)}={shlex.quote(value)}" for name, value in values.items()]


def describe(runner: PatternRunner, user: str, found: Credentials) -> str:
    metadata = runner.metadata_url
    lines = [f"{runner.id} {runner.loaded.info.title}: its MCP server and tool services on "
             f"127.0.0.1, as {user}, until Ctrl-C.", "",
             f"  MCP server (streamable HTTP)  {runner.mcp_url}"]
    if metadata:
        issuer = runner.stack.endpoints.issuer if runner.stack.endpoints else ""
        lines += [f"  protected resource metadata  {metadata}",
                  f"  authorization server         {issuer}"]
    lines += ["", f"What a client sends as {user}{_until(found.expires_at, runner.clock.now())}:"]
    lines += [f"  - {note}" for note in found.notes]
    if found.headers or found.arguments:
        lines += ["", "As shell variables (paste them, then the commands below):"]
        lines += _assignments(found)
    lines += ["", "Try it:"]
    if metadata:
        lines.append("  # no token: 401 and the challenge that names the metadata")
        lines.append("  curl -si " + shlex.join([
            "-X", "POST", runner.mcp_url, "-H", "content-type: application/json",
            "-H", "accept: application/json, text/event-stream", "-d", _initialize()]))
    lines.append("  # the MCP Inspector's CLI: a tool call with what a client sends")
    lines.append("  " + _inspector_line(runner.mcp_url, found))
    lines += ["", "Your client's requests to the MCP server and what they cause, as it "
              "happens: the MCP server's refusals and its hops to the IdP and the services, "
              "theirs to OPA, the audit log (Enter: fresh credentials; Ctrl-C: stop):"]
    return "\n".join(lines)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    stop, fresh = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reading = not args.json and sys.stdin.isatty()
    try:
        async with PatternRunner(args.pattern, settings=settings, inbound=True) as runner:
            user = runner.check_user(args.user)
            found = await credentials(runner, user)
            _announce(args, runner, user, found)

            def show(hop: Hop) -> None:
                try:
                    print(json.dumps(hop_to_dict(hop)) if args.json else hop_line(hop),
                          flush=True)
                except OSError:   # the reader went away (`| head`): stop, quietly
                    stop.set()

            runner.tap.subscribe(show)
            if reading:
                loop.add_reader(sys.stdin.fileno(), _on_enter, fresh)
            while not stop.is_set():
                waiters = [asyncio.ensure_future(stop.wait()),
                           asyncio.ensure_future(fresh.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if fresh.is_set() and not stop.is_set():
                    fresh.clear()
                    runner.logins.forget()
                    if runner.agent.identity is not None:
                        runner.agent.identity.tokens.clear()
                    found = await credentials(runner, user)
                    _announce(args, runner, user, found, again=True)
    finally:
        if reading:
            loop.remove_reader(sys.stdin.fileno())
        # The signal handlers stay until the loop closes, right after this: a second Ctrl-C
        # while the servers stop only asks again for what is already under way.
    if not args.json:
        print("stopped: the servers are down", file=sys.stderr)
    return 0


def _on_enter(fresh: asyncio.Event) -> None:
    if sys.stdin.readline():
        fresh.set()


def _announce(args: argparse.Namespace, runner: PatternRunner, user: str,
              found: Credentials, *, again: bool = False) -> None:
    if args.json:
        print(json.dumps(_as_json(runner, user, found)), flush=True)
    elif again:
        print(f"\nFresh credentials{_until(found.expires_at, runner.clock.now())}:")
        print("\n".join(_assignments(found) or ["  (none needed)"]) + "\n", flush=True)
    else:
        print(describe(runner, user, found), flush=True)


def _as_json(runner: PatternRunner, user: str, found: Credentials) -> dict[str, Any]:
    return {"pattern": runner.id, "user": user, "mcp_url": runner.mcp_url,
            "resource_metadata": runner.metadata_url,
            "issuer": runner.stack.endpoints.issuer if runner.stack.endpoints else None,
            "headers": found.headers, "arguments": found.arguments,
            "expires_at": found.expires_at}
