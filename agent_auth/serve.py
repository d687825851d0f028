"""`agent-auth serve`: one pattern's MCP server and tool services, for clients of your own.

It prints the server's URL, its protected resource metadata (from pattern 05 on), and what
a client must send as the chosen user (runtime/connect.py), then your client's requests and
the hops they cause (the MCP server to the IdP and the services, the services to OPA, the
audit log) as they happen, until Ctrl-C. Enter prints fresh credentials (access tokens live
five minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from agent_auth.commands import hop_line
from runtime import (
    ClientCredentials,
    Hop,
    PatternRunner,
    Settings,
    client_credentials,
    credential_lines,
    describe_connection,
    expiry_note,
    hop_to_dict,
)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    stop, fresh = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reading = not args.json and sys.stdin.isatty()
    try:
        async with PatternRunner(args.pattern, settings=settings, inbound=True) as runner:
            user = runner.check_user(args.user)
            found = await client_credentials(runner, user)
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
                    found = await client_credentials(runner, user, fresh=True)
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
              found: ClientCredentials, *, again: bool = False) -> None:
    if args.json:
        print(json.dumps(_as_json(runner, user, found)), flush=True)
    elif again:
        print(f"\nFresh credentials{expiry_note(found.expires_at, runner.clock.now())}:")
        print("\n".join(credential_lines(found) or ["  (none needed)"]) + "\n", flush=True)
    else:
        print(describe_connection(runner, user, found, heading=(
            f"{runner.id} {runner.loaded.info.title}: its MCP server and tool services on "
            f"127.0.0.1, as {user}, until Ctrl-C."), closing=(
            "Your client's requests to the MCP server and what they cause, as it happens: "
            "the MCP server's refusals and its hops to the IdP and the services, theirs to "
            "OPA, the audit log (Enter: fresh credentials; Ctrl-C: stop):")), flush=True)


def _as_json(runner: PatternRunner, user: str, found: ClientCredentials) -> dict[str, Any]:
    return {"pattern": runner.id, "user": user, "mcp_url": runner.mcp_url,
            "resource_metadata": runner.metadata_url,
            "issuer": runner.stack.endpoints.issuer if runner.stack.endpoints else None,
            "headers": found.headers, "arguments": found.arguments,
            "expires_at": found.expires_at}
