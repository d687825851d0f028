"""What the scripted model can know from the request alone: the conversation and the tools.

The model is stateless. The system prompt says who it helps (and, in pattern 03, the user's
API key); the latest user message is the intent; the assistant tool calls and tool results
after it are how far the plan got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.model.results import KEY_RE, ToolResult, parse_result, text_of

USER_RE = re.compile(
    r"\byou\s+are\s+(?:helping|assisting|acting\s+(?:for|on\s+behalf\s+of))\s+"
    r"(?P<name>[a-z][a-z0-9_-]*)", re.I)
#: "You are Acme's summarizer": the model runs as the summarizer sub-agent (script step A8)
ROLE_RE = re.compile(r"\byou\s+are\s+acme's\s+(?P<role>summari[sz]er)\b", re.I)
SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True)
class Step:
    """One tool call the model made in this turn and what came back."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    result: ToolResult


@dataclass(frozen=True)
class Context:
    user: str | None  # from "You are helping <name>"
    key: str | None  # an API key found in the system prompt
    tools: Mapping[str, frozenset[str]]  # offered tool name -> its parameter names
    turn: int  # number of user messages so far (1-based)
    prompt: str  # the latest user message
    rounds: tuple[tuple[Step, ...], ...] = field(default=())  # tool-call rounds this turn
    role: str | None = None  # "summarizer" for the sub-agent; None for the agent itself

    def offers(self, tool: str) -> bool:
        return tool in self.tools

    def takes(self, tool: str, param: str) -> bool:
        return param in self.tools.get(tool, frozenset())

    @property
    def calls_made(self) -> int:
        return sum(len(r) for r in self.rounds)


def _tool_params(tools: list[Any] | None) -> dict[str, frozenset[str]]:
    offered: dict[str, frozenset[str]] = {}
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function", tool)
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        params = fn.get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        offered[fn["name"]] = frozenset(props) if isinstance(props, dict) else frozenset()
    return offered


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def _rounds(after_user: list[dict[str, Any]]) -> tuple[tuple[Step, ...], ...]:
    results = {m.get("tool_call_id"): m.get("content") for m in after_user
               if m.get("role") == "tool"}
    rounds: list[tuple[Step, ...]] = []
    for message in after_user:
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not isinstance(calls, list) or not calls:
            continue
        steps = []
        for call in calls:
            if not isinstance(call, dict):
                continue
            raw_fn = call.get("function")
            fn: dict[str, Any] = raw_fn if isinstance(raw_fn, dict) else {}
            call_id = str(call.get("id", ""))
            steps.append(Step(call_id=call_id, name=str(fn.get("name", "")),
                              arguments=_arguments(fn.get("arguments")),
                              result=parse_result(results.get(call_id))))
        rounds.append(tuple(steps))
    if not rounds and results:  # tool results without the assistant call: still progress
        rounds.append(tuple(Step(str(i), "", {}, parse_result(c)) for i, c in results.items()))
    return tuple(rounds)


def read_conversation(messages: list[Any], tools: list[Any] | None = None) -> Context:
    msgs = [m for m in messages if isinstance(m, dict)]
    system = "\n".join(text_of(m.get("content")) for m in msgs if m.get("role") in SYSTEM_ROLES)
    user_match = USER_RE.search(system)
    key_match = KEY_RE.search(system)
    role_match = ROLE_RE.search(system)
    user_idx = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    last = user_idx[-1] if user_idx else len(msgs)
    return Context(
        user=user_match.group("name").lower() if user_match else None,
        key=key_match.group(0) if key_match else None,
        tools=_tool_params(tools),
        turn=max(len(user_idx), 1),
        prompt=text_of(msgs[last].get("content")) if user_idx else "",
        rounds=_rounds(msgs[last + 1:]),
        role="summarizer" if role_match else None,
    )
