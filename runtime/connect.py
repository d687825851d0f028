"""A client of your own on a pattern's MCP server: what it must send as a user, and how.

The MCP Inspector, curl, or an MCP client you are writing talks to the pattern's real MCP
server (streamable HTTP on 127.0.0.1) as the agent would: with the user's access token for
the MCP server (got by the MCP authorization flow, as the agent gets it), the agent's own
token where the pattern wants an actor, or the user's API key as a tool argument. Used by
`agent-auth serve` and the explorer's connect screen (plain text; no UI here).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field

from runtime.demo_realm import demo_realm
from runtime.pattern_api import ACTOR_TOKEN_HEADER
from runtime.runner import PatternRunner
from runtime.tokens import decode_unverified

INSPECTOR = "npx @modelcontextprotocol/inspector"


@dataclass
class ClientCredentials:
    """What a client sends to the MCP server as one user under one pattern."""

    headers: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, str] = field(default_factory=dict)   # added to every tool call
    expires_at: float | None = None
    notes: list[str] = field(default_factory=list)


async def client_credentials(runner: PatternRunner, user: str, *,
                             fresh: bool = False) -> ClientCredentials:
    """What a client sends as `user`, got as the agent gets it; `fresh` logs in again."""
    user = runner.check_user(user)
    if fresh:
        runner.logins.forget(user)
        if runner.agent.identity is not None:
            runner.agent.identity.tokens.clear()
    plugin, found = runner.loaded.mcp, ClientCredentials()
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
    if plugin.user_credential == "bearer_token" and ACTOR_TOKEN_HEADER not in found.headers:
        password = demo_realm().passwords.get(user, "?")
        found.notes.append(f"or let your client run the OAuth flow itself (the Inspector's "
                           f"UI): it registers at the IdP (RFC 7591, redirect URIs on "
                           f"localhost) and {user} signs in at the IdP's form ({user} / "
                           f"{password}); its token is for this MCP server only")
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


def _inspector_line(url: str, found: ClientCredentials) -> str:
    """The Inspector's CLI calling read_data with what a client sends; the credentials are
    the shell variables printed above it (tokens are long: print them once)."""
    words = [INSPECTOR, "--cli", shlex.quote(url), "--transport", "http", "--method",
             "tools/call", "--tool-name", "read_data", "--tool-arg", "kind=expenses"]
    for name in found.arguments:
        words += ["--tool-arg", f'"{name}=${variable(name)}"']
    for name in found.headers:
        words += ["--header", f'"{name}: ${variable(name)}"']
    return " ".join(words)


def expiry_note(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return ""
    stamp = time.strftime("%H:%M:%S", time.localtime(expires_at))
    return f"; the access token expires at {stamp}, in {max(0, int(expires_at - now))} s"


def credential_lines(found: ClientCredentials) -> list[str]:
    values = {**found.headers, **found.arguments}
    return [f"  {variable(name)}={shlex.quote(value)}" for name, value in values.items()]


def describe_connection(runner: PatternRunner, user: str, found: ClientCredentials, *, heading: str,
             closing: str) -> str:
    """The URLs, what a client sends as `user`, and commands that send it, as plain text."""
    metadata = runner.metadata_url
    lines = [heading, "", f"  MCP server (streamable HTTP)  {runner.mcp_url}"]
    if metadata:
        issuer = runner.stack.endpoints.issuer if runner.stack.endpoints else ""
        lines += [f"  protected resource metadata  {metadata}",
                  f"  authorization server         {issuer}"]
    note = expiry_note(found.expires_at, runner.clock.now())
    lines += ["", f"What a client sends as {user}{note}:"]
    lines += [f"  - {note}" for note in found.notes]
    if found.headers or found.arguments:
        lines += ["", "As shell variables (paste them, then the commands below):"]
        lines += credential_lines(found)
    lines += ["", "Try it:"]
    if metadata:
        lines.append("  # no token: 401 and the challenge that names the metadata")
        lines.append("  curl -si " + shlex.join([
            "-X", "POST", runner.mcp_url, "-H", "content-type: application/json",
            "-H", "accept: application/json, text/event-stream", "-d", _initialize()]))
    lines.append("  # the MCP Inspector's CLI: a tool call with what a client sends")
    lines.append("  " + _inspector_line(runner.mcp_url, found))
    lines += ["", closing]
    return "\n".join(lines)
