"""The agent: a tool-calling loop on the `openai` SDK, with tools served over MCP.

The model (scripted or real) only ever sees what this loop gives it: the system prompt, the
user's words, the tool schemas and tool results. Which credential reaches the MCP server,
and how, is the pattern's business (`user_credential`, `model_instructions`,
`bound_arguments`); the user's name goes in every call's `_meta`, as the write-up's agent
sends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import RequestParamsMeta

from runtime.http import EndpointMap, make_client2
from runtime.pattern_api import ACTOR_TOKEN_HEADER
from runtime.plugin import McpPlugin
from runtime.presets import request_token
from runtime.presets.token_cache import TokenCache
from runtime.wire import WireTap
from stack.clock import Clock

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


@dataclass(frozen=True)
class ToolInvocation:
    name: str
    arguments: dict[str, Any]
    result: str

    @property
    def refused(self) -> bool:
        return '"error"' in self.result[:40]


@dataclass(frozen=True)
class TurnResult:
    user: str
    prompt: str
    answer: str
    trace_id: str
    model: str
    tool_calls: tuple[ToolInvocation, ...] = ()
    error: str | None = None


@dataclass
class Agent:
    llm: openai.AsyncOpenAI
    model: str
    mcp_url: str
    plugin: McpPlugin
    tap: WireTap
    endpoints: EndpointMap
    identity: AgentIdentity | None = None
    system_prompt: str = (
        "You are Acme's assistant. You are helping {user}. Use the tools to answer; "
        "never invent data."
    )

    async def run(self, session: UserSession, prompt: str, trace_id: str) -> TurnResult:
        system = self.system_prompt.format(user=session.username)
        extra = self.plugin.model_instructions(session.username, session.api_key)
        if extra:
            system += " " + extra
        bound = self.plugin.bound_arguments(session.username, session.api_key)
        headers = {}
        if self.plugin.user_credential == "bearer_token" and session.access_token:
            headers["Authorization"] = f"Bearer {session.access_token}"
        if self.plugin.actor_credential == "actor_token" and self.identity is not None:
            headers[ACTOR_TOKEN_HEADER] = await self.identity.token()
        http = make_client2(self.tap, self.endpoints, "agent", headers=headers)
        calls: list[ToolInvocation] = []
        async with http, Client(streamable_http_client(self.mcp_url, http_client=http)) as mcp:
            listed = await mcp.list_tools()
            tools = [self._schema_for_model(t, bound) for t in listed.tools]
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ]
            for _ in range(MAX_TOOL_ROUNDS):
                completion = await self.llm.chat.completions.create(
                    model=self.model, messages=messages, tools=tools  # type: ignore[arg-type]
                )
                message = completion.choices[0].message
                if not message.tool_calls:
                    answer = message.content or "(the model returned no answer)"
                    return TurnResult(session.username, prompt, answer, trace_id,
                                      completion.model, tuple(calls))
                messages.append(message.model_dump(exclude_none=True))
                for tool_call in message.tool_calls:
                    name = tool_call.function.name  # type: ignore[union-attr]
                    args = _parse_arguments(tool_call.function.arguments)  # type: ignore[union-attr]
                    # the chat shows what the model asked for; bound values stay out of view
                    shown = {**args, **dict.fromkeys(bound, "(bound by the runtime)")}
                    args.update(bound)
                    meta: RequestParamsMeta = {"user": session.username}  # type: ignore[typeddict-unknown-key]
                    result = await mcp.call_tool(name, args, meta=meta)
                    text = "\n".join(
                        getattr(block, "text", "") for block in result.content
                    ) or json.dumps({"error": {"reason": "tool returned nothing"}})
                    calls.append(ToolInvocation(name, shown, text))
                    messages.append({"role": "tool", "tool_call_id": tool_call.id,
                                     "content": text})
        return TurnResult(session.username, prompt,
                          "The agent stopped after too many tool rounds.", trace_id,
                          self.model, tuple(calls), error="too many tool rounds")

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


def _parse_arguments(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
