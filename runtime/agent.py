"""The agent: a tool-calling loop on the `openai` SDK, with tools served over MCP.

The model (scripted or real) only ever sees what this loop gives it: the system prompt, the
user's words, the tool schemas and tool results. Which credential reaches the MCP server,
and how, is the pattern's business (`AuthHandler.user_context`, `bound_arguments`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runtime.http import EndpointMap, make_client2
from runtime.pattern_api import AuthHandler
from runtime.wire import WireTap

MAX_TOOL_ROUNDS = 6
MAX_PROMPT_CHARS = 4000


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
    handler: AuthHandler
    tap: WireTap
    endpoints: EndpointMap
    system_prompt: str = (
        "You are Acme's assistant. You are helping {user}. Use the tools to answer; "
        "never invent data."
    )

    async def run(self, session: UserSession, prompt: str, trace_id: str) -> TurnResult:
        system = self.system_prompt.format(user=session.username)
        extra = self.handler.model_instructions(session.username, session.api_key)
        if extra:
            system += " " + extra
        headers = {}
        if self.handler.user_context == "bearer_header" and session.access_token:
            headers["Authorization"] = f"Bearer {session.access_token}"
        http = make_client2(self.tap, self.endpoints, "agent", headers=headers)
        calls: list[ToolInvocation] = []
        async with http, Client(streamable_http_client(self.mcp_url, http_client=http)) as mcp:
            listed = await mcp.list_tools()
            tools = [self._schema_for_model(t) for t in listed.tools]
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
                    bound = self.handler.bound_arguments(session.username, session.api_key)
                    # the chat shows what the model asked for; bound values stay out of view
                    shown = {**args, **dict.fromkeys(bound, "(bound by the runtime)")}
                    args.update(bound)
                    result = await mcp.call_tool(name, args)
                    text = "\n".join(
                        getattr(block, "text", "") for block in result.content
                    ) or json.dumps({"error": {"reason": "tool returned nothing"}})
                    calls.append(ToolInvocation(name, shown, text))
                    messages.append({"role": "tool", "tool_call_id": tool_call.id,
                                     "content": text})
        return TurnResult(session.username, prompt,
                          "The agent stopped after too many tool rounds.", trace_id,
                          self.model, tuple(calls), error="too many tool rounds")

    def _schema_for_model(self, tool: Any) -> dict[str, Any]:
        schema = json.loads(json.dumps(tool.input_schema))
        if not self.handler.model_sees_api_key:
            schema.get("properties", {}).pop("api_key", None)
            if "required" in schema:
                schema["required"] = [r for r in schema["required"] if r != "api_key"]
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
