"""The summarizer: a sub-agent the agent hands summarizing tasks to (script step A8).

The agent offers its model one local tool, `ask_summarizer(task)`. When the model calls it,
the agent hands the task on: the pattern's optional `delegate` hook says what the sub-agent
presents to the MCP server (without one, the agent's own credentials: the sub-agent acts
with the agent's whole authority). The summarizer is a model loop of its own, with its own
client at the IdP (`summarizer`), its own MCP session and its own place on the wire; its
answer goes back to the agent as the tool's result. Everything runs in the agent's trace.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from mcp.client.streamable_http import streamable_http_client

from runtime.agent import Agent, AgentIdentity, ToolInvocation, UserSession, _ClosingClient
from runtime.http import make_client2
from runtime.identity import AuthError, DependencyError
from runtime.login import Logins
from runtime.pattern_api import (
    ACTOR_TOKEN_HEADER,
    AuthorizationDenied,
    Delegation,
    UserContext,
)
from runtime.plugin import McpPlugin, PluginError
from runtime.wire import WireTap

SUB_AGENT = "summarizer"             # its client id at the IdP, and its name on the wire
TOOL_NAME = "ask_summarizer"
TASK_SCOPE = "acme:read"             # a summary only reads
MAX_TASK_CHARS = 500
SYSTEM_PROMPT = (
    "You are Acme's summarizer, a sub-agent of Acme's assistant. You are helping {user} with "
    "one task the assistant handed you. Use the tools to read what you need; answer with a "
    "short summary."
)
TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Hand a summarizing task to the summarizer sub-agent. It reads what "
                       "it needs with the tools and answers with a summary.",
        "parameters": {
            "type": "object",
            "properties": {"task": {"type": "string", "maxLength": MAX_TASK_CHARS,
                                    "description": "What to summarize, in one sentence."}},
            "required": ["task"],
        },
    },
}
DELEGATION_FAILURES = (AuthError, DependencyError, AuthorizationDenied, PluginError)


@dataclass
class SubAgent(Agent):
    """The sub-agent's model loop: an Agent whose MCP session carries exactly the
    credentials it was handed (no login of its own), on the wire as itself."""

    name: str = SUB_AGENT

    async def _mcp_client(self, session: UserSession, probe: bool = False) -> _ClosingClient:
        headers: dict[str, str] = {}
        if session.access_token:
            headers["Authorization"] = f"Bearer {session.access_token}"
        if session.actor_token:
            headers[ACTOR_TOKEN_HEADER] = session.actor_token
        http = make_client2(self.tap, self.endpoints, self.name, headers=headers)
        # what it learnt of the server (discover, the tool list) is its own, kept per user
        transport = streamable_http_client(self.mcp_url, http_client=http)
        return _ClosingClient(http, self.memory.client(session.username, self.mcp_url,
                                                         transport))


@dataclass
class Summarizer:
    """The agent's local tool `ask_summarizer`: hand the task on, run the sub-agent."""

    sub_agent: SubAgent
    plugin: McpPlugin
    agent_identity: AgentIdentity | None     # the agent's own client (`agent`)
    identity: AgentIdentity                  # the sub-agent's own client (`summarizer`)
    logins: Logins
    tap: WireTap
    #: the agent's MCP login for a user (`Agent.connect`), for a hand-off that comes before
    #: the agent has sent the MCP server anything this turn (its tool list is cached)
    log_in: Callable[[str], Awaitable[None]] | None = None
    name: ClassVar[str] = TOOL_NAME
    schema: ClassVar[dict[str, Any]] = TOOL_SCHEMA

    def forget(self) -> None:
        """Fresh state for a new run: no cached tokens."""
        self.identity.tokens.clear()

    async def run(self, session: UserSession, arguments: dict[str, Any],
                  trace_id: str) -> ToolInvocation:
        task = arguments.get("task")
        if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK_CHARS:
            return self._failed(arguments, 400, f"task must be text of 1 to {MAX_TASK_CHARS} "
                                "characters", "runtime")
        task = task.strip()
        self.tap.record("prompt", "agent", SUB_AGENT, f"(the agent hands a task to the "
                        f"{SUB_AGENT}) {task}", request_body=task,
                        data={"delegation": {"sub_agent": SUB_AGENT, "task": task,
                                             "scope": TASK_SCOPE}})
        try:
            handed = await self.plugin.delegate(await self._parent(session), Delegation(
                task, SUB_AGENT, TASK_SCOPE, self._agent_client(), self.identity))
        except DELEGATION_FAILURES as exc:
            status = getattr(exc, "status", 401 if isinstance(exc, AuthError) else 503)
            decided = getattr(exc, "decided_by", None) or "runtime"
            return self._failed({"task": task}, status, f"the hand-off to the {SUB_AGENT} "
                                f"failed: {getattr(exc, 'reason', str(exc))}", decided)
        turn = await self.sub_agent.run(
            UserSession(session.username, handed.jwt, handed.api_key or session.api_key,
                        handed.actor_token), task, trace_id)
        self.tap.record("answer", SUB_AGENT, "agent", turn.answer, response_body=turn.answer,
                        data={"model": turn.model, "error": turn.error})
        result = {"answer": turn.answer,
                  "tool_calls": [f"{c.name}: {'refused' if c.refused else 'done'}"
                                 for c in turn.tool_calls]}
        return ToolInvocation(TOOL_NAME, {"task": task}, json.dumps(result, indent=1))

    async def _parent(self, session: UserSession) -> UserContext:
        """What the agent itself holds for this user: the user's token (from the login
        when the MCP server made the agent log in), its API key, its own actor token."""
        token = session.access_token or self.logins.storage(session.username).access_token
        if token is None and self.plugin.authenticates and self.log_in is not None:
            await self.log_in(session.username)
            token = self.logins.storage(session.username).access_token
        actor = None
        if self.plugin.actor_credential == "actor_token" and self.agent_identity is not None:
            actor = await self.agent_identity.token()
        return UserContext(user=session.username, jwt=token, api_key=session.api_key or None,
                           actor_token=actor)

    def _agent_client(self) -> AgentIdentity:
        if self.agent_identity is None:
            raise AuthorizationDenied("the agent has no client of its own to delegate with")
        return self.agent_identity

    def _failed(self, arguments: dict[str, Any], status: int, reason: str,
                decided_by: str) -> ToolInvocation:
        self.tap.record("audit", "agent", "gate", f"DENY at the agent ({decided_by}): "
                        f"{TOOL_NAME}: {reason}", status=status,
                        data={"gate": {"reason": reason, "decided_by": decided_by,
                                       "tool": TOOL_NAME}})
        text = json.dumps({"error": {"status": status, "reason": reason,
                                     "decided_by": decided_by}})
        return ToolInvocation(TOOL_NAME, arguments, text)
