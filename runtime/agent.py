"""The agent: a tool-calling loop on the `openai` SDK, with tools served over MCP.

The model (scripted or real) only ever sees what this loop gives it: the system prompt, the
user's words, the tool schemas and tool results. Which credential reaches the MCP server,
and how, is the pattern's business (`user_credential`, `actor_credential`,
`model_instructions`, `bound_arguments`); the user's name goes in every call's `_meta`, as
the write-up's agent sends it.

Whatever the model endpoint answers, a turn ends with one clear reason in
`TurnResult.error` (see `runtime.model_endpoint`), never a traceback. A tool call the agent
will not make (no tool name, arguments that are not a JSON object) goes back to the model as
a tool error and onto the wire as a refusal; it is never run with `{}` instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import RequestParamsMeta

from runtime.http import EndpointMap, make_client2
from runtime.login import Logins
from runtime.mcp_client import McpClientMemory
from runtime.model_endpoint import (
    ModelClient,
    ModelFailure,
    RetryPolicy,
    ToolCall,
    complete,
    json_type,
)
from runtime.pattern_api import ACTOR_TOKEN_HEADER
from runtime.plugin import McpPlugin
from runtime.presets import request_token
from runtime.presets.token_cache import TokenCache
from runtime.wire import WireTap
from stack.clock import Clock
from stack.errors import ExplorerError

MAX_TOOL_ROUNDS = 6
MAX_PROMPT_CHARS = 4000


@dataclass
class AgentIdentity:
    """The agent's own client at the IdP (`agent`). It gets its token with its own secret,
    which the MCP server never holds, and sends it where a pattern names the agent as the
    actor of a delegation (`actor_credential = "actor_token"`)."""

    client_id: str
    client_secret: str
    token_url: str
    http: httpx.AsyncClient
    clock: Clock
    timeout: float
    tokens: TokenCache = field(default_factory=TokenCache)

    async def token(self) -> str:
        issued = await request_token(self, {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        })
        return issued.access_token


@dataclass(frozen=True)
class UserSession:
    username: str
    access_token: str | None
    api_key: str
    actor_token: str | None = None   # a sub-agent's own, when it was handed one


@dataclass(frozen=True)
class ToolInvocation:
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool = False      # MCP's isError: the server refused the call before any tool ran

    @property
    def refused(self) -> bool:
        return self.is_error or '"error"' in self.result[:40]


@dataclass(frozen=True)
class TurnResult:
    user: str
    prompt: str
    answer: str
    trace_id: str
    model: str
    tool_calls: tuple[ToolInvocation, ...] = ()
    error: str | None = None


class LocalTool(Protocol):
    """A tool the agent runs itself, not over MCP (handing a task to a sub-agent)."""

    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> dict[str, Any]:
        """The tool as the model sees it (an OpenAI function tool)."""
        ...

    async def run(self, session: UserSession, arguments: dict[str, Any],
                  trace_id: str) -> ToolInvocation: ...


class CallRefused(ExplorerError, ValueError):
    """The agent will not make this tool call; the message says why (to the model and the
    wire)."""


@dataclass
class Agent:
    llm: ModelClient
    model: str
    mcp_url: str
    plugin: McpPlugin
    tap: WireTap
    endpoints: EndpointMap
    identity: AgentIdentity | None = None
    logins: Logins | None = None
    system_prompt: str = (
        "You are Acme's assistant. You are helping {user}. Use the tools to answer; "
        "never invent data."
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: each user's server/discover answer and tool listing: facts about the server, kept
    #: while the runtime runs (a reset renews tokens and data, not these)
    memory: McpClientMemory = field(default_factory=McpClientMemory)
    local_tools: tuple[LocalTool, ...] = ()

    async def run(self, session: UserSession, prompt: str, trace_id: str) -> TurnResult:
        system = self.system_prompt.format(user=session.username)
        extra = self.plugin.model_instructions(session.username, session.api_key)
        if extra:
            system += " " + extra
        bound = self.plugin.bound_arguments(session.username, session.api_key)
        calls: list[ToolInvocation] = []
        async with await self._mcp_client(session) as mcp:
            self.memory.remember(session.username, mcp)
            listed = await mcp.list_tools()
            tools = [self._schema_for_model(t, bound) for t in listed.tools]
            tools += [t.schema for t in self.local_tools]
            local = {t.name: t for t in self.local_tools}
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ]
            for _ in range(MAX_TOOL_ROUNDS):
                try:
                    reply = await complete(self.llm, self.model, messages, tools, self.retry)
                except ModelFailure as exc:
                    reason = self.tap.redact(str(exc))
                    self.tap.record("error", "agent", "runtime", reason)
                    return TurnResult(session.username, prompt,
                                      f"The agent could not finish: {reason}", trace_id,
                                      self.model, tuple(calls), error=reason)
                if not reply.tool_calls:
                    answer = reply.content or "(the model returned no answer)"
                    return TurnResult(session.username, prompt, answer, trace_id, reply.model,
                                      tuple(calls))
                messages.append(reply.as_message())
                for call in reply.tool_calls:
                    try:
                        name, args = _checked(call)
                    except CallRefused as exc:
                        text = self._refuse(call, str(exc))
                        calls.append(ToolInvocation(call.name or "(no name)", {}, text))
                    else:
                        if name in local:   # the agent's own tool (a sub-agent), not MCP
                            calls.append(await local[name].run(session, args, trace_id))
                            text = calls[-1].result
                        else:
                            text = await self._call_tool(mcp, session, name, args, bound,
                                                        calls)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
        return TurnResult(session.username, prompt,
                          "The agent stopped after too many tool rounds.", trace_id,
                          self.model, tuple(calls), error="too many tool rounds")

    async def call_directly(self, session: UserSession, name: str,
                            args: dict[str, Any]) -> ToolInvocation:
        """One tool call as `session`'s user with exactly `args` (no model): the pattern
        still adds its credentials and bound arguments, and where the model would pass the
        user's key as `api_key`, the user's own key unless `args` names one."""
        bound = self.plugin.bound_arguments(session.username, session.api_key)
        if self.plugin.user_credential == "api_key_argument" and "api_key" not in args:
            args = {**args, "api_key": session.api_key}
        calls: list[ToolInvocation] = []
        async with await self._mcp_client(session) as mcp:
            self.memory.remember(session.username, mcp)
            await self._call_tool(mcp, session, name, args, bound, calls)
        return calls[0]

    async def connect(self, user: str) -> None:
        """Open (and close) an MCP session as `user`: against a protected MCP server, this is
        how the user logs in (401, metadata discovery, the IdP's login page)."""
        async with await self._mcp_client(UserSession(user, None, ""), probe=True) as mcp:
            self.memory.remember(user, mcp)

    async def _mcp_client(self, session: UserSession, probe: bool = False) -> _ClosingClient:
        """An MCP client for this user, carrying what the pattern says the agent sends."""
        headers: dict[str, str] = {}
        auth = None
        if self.plugin.authenticates and self.logins is not None:
            auth = self.logins.provider(session.username, self.mcp_url)  # the MCP auth flow
        elif self.plugin.user_credential == "bearer_token" and session.access_token:
            headers["Authorization"] = f"Bearer {session.access_token}"
        if self.plugin.actor_credential == "actor_token" and self.identity is not None:
            headers[ACTOR_TOKEN_HEADER] = await self.identity.token()
        http = make_client2(self.tap, self.endpoints, "agent", headers=headers, auth=auth)
        transport = streamable_http_client(self.mcp_url, http_client=http)
        return _ClosingClient(http, self.memory.client(session.username, self.mcp_url,
                                                         transport, probe=probe))

    async def _call_tool(self, mcp: Client, session: UserSession, name: str,
                         args: dict[str, Any], bound: dict[str, Any],
                         calls: list[ToolInvocation]) -> str:
        # the chat shows what the model asked for; bound values stay out of view
        shown = {**args, **dict.fromkeys(bound, "(bound by the runtime)")}
        meta: RequestParamsMeta = {"user": session.username}  # type: ignore[typeddict-unknown-key]
        result = await mcp.call_tool(name, {**args, **bound}, meta=meta)
        text = "\n".join(getattr(block, "text", "") for block in result.content) or json.dumps(
            {"error": {"reason": "tool returned nothing"}})
        calls.append(ToolInvocation(name, shown, text, bool(result.is_error)))
        return text

    def _refuse(self, call: ToolCall, reason: str) -> str:
        """Record a tool call the agent will not make; the tool error the model gets."""
        name = call.name or "(no name)"
        raw = call.arguments if isinstance(call.arguments, str) else json.dumps(
            call.arguments, default=str)
        self.tap.record("audit", "agent", "gate", f"DENY at the agent (runtime): {name}: {reason}",
                        status=400, request_body=raw[:2000],
                        data={"gate": {"reason": reason, "decided_by": "runtime",
                                       "tool": name}})
        return json.dumps({"error": {"status": 400, "reason": reason, "decided_by": "runtime"}})

    def _schema_for_model(self, tool: Any, bound: dict[str, Any]) -> dict[str, Any]:
        """The tool as the model sees it: without the arguments the runtime binds, and
        without `api_key` unless the pattern has the model pass the user's key."""
        schema = json.loads(json.dumps(tool.input_schema))
        hidden = set(bound)
        if self.plugin.user_credential != "api_key_argument":
            hidden.add("api_key")
        for name in hidden:
            schema.get("properties", {}).pop(name, None)
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in hidden]
        return {
            "type": "function",
            "function": {"name": tool.name, "description": tool.description or "",
                         "parameters": schema},
        }


class _ClosingClient:
    """An MCP client that also closes the HTTP client it was given, whatever happens."""

    def __init__(self, http: httpx2.AsyncClient, client: Client) -> None:
        self.http, self.client = http, client

    async def __aenter__(self) -> Client:
        await self.http.__aenter__()
        try:
            return await self.client.__aenter__()
        except BaseException:
            await self.http.aclose()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.client.__aexit__(*exc)
        finally:
            await self.http.aclose()


def _checked(call: ToolCall) -> tuple[str, dict[str, Any]]:
    """The tool name and arguments of a call the agent will make, or CallRefused: the
    arguments must be a string of JSON holding an object ("" means no arguments)."""
    if call.name is None:
        raise CallRefused("the call names no tool")
    raw = call.arguments
    if not isinstance(raw, str):
        raise CallRefused(f"arguments rejected: a JSON {json_type(raw)}, not a string of JSON")
    if not raw.strip():
        return call.name, {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise CallRefused(f"arguments rejected: not valid JSON ({len(raw)} characters)"
                          ) from None
    if not isinstance(value, dict):
        raise CallRefused(f"arguments rejected: a JSON {json_type(value)}, not an object")
    return call.name, value
