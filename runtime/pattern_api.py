"""The interfaces a pattern implements: what people read to understand one pattern.

A pattern folder holds two code files:

* `mcp_auth.py` defines `handler`, an `AuthHandler`: how the MCP server adds credentials to
  the requests it sends to tool services (`prepare_request`) and gates tool calls
  (`before_tool_call`), plus what the model is told about credentials and which tool
  arguments the runtime binds (patterns 03 and 04).
* `service_auth.py` defines `get_identity(request, ctx) -> Identity` and
  `authorize(identity, action, resource, ctx) -> Decision`: how a tool service extracts
  the caller and decides.

Everything pattern-specific lives there; the framework never looks at a pattern's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import httpx
from starlette.requests import Request

from runtime.identity import Decision, Identity
from runtime.services.world import World
from stack.clock import Clock
from stack.jose import ReplayCache

ServiceName = Literal["records", "directory"]
UserContextTransport = Literal["none", "tool_argument", "bearer_header"]


@dataclass(frozen=True)
class StackEndpoints:
    """Where the identity provider and the policy engine are (embedded or external)."""

    issuer: str
    token_url: str
    jwks_url: str
    opa_url: str


@dataclass
class ServiceContext:
    """Everything a service-side preset may use; one per service per runner."""

    service: ServiceName
    audience: str
    stack: StackEndpoints
    clock: Clock
    http: httpx.AsyncClient
    world: Callable[[], World]
    jwks: Any  # runtime.presets.jwks.JwksCache, created by the runner
    replay: ReplayCache
    base_url: str = ""
    timeout: float = 3.0


@dataclass(frozen=True)
class ServiceRequest:
    """A request the MCP server is about to send to a tool service."""

    service: ServiceName
    method: str
    url: str
    json: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def with_headers(self, **headers: str) -> ServiceRequest:
        return replace(self, headers={**self.headers, **headers})


@dataclass(frozen=True)
class ToolCall:
    """One tools/call as the MCP server received it, with the caller's credentials."""

    tool: str
    arguments: dict[str, Any]
    service: ServiceName
    bearer_token: str | None = None     # Authorization header on the MCP transport
    api_key: str | None = None          # `api_key` tool argument (patterns 03/04)


@dataclass
class McpContext:
    """Everything an MCP-side preset may use; one per runner."""

    stack: StackEndpoints
    clock: Clock
    http: httpx.AsyncClient
    world: Callable[[], World]
    client_id: str = "mcp-server"
    client_secret: str = "mcp-server-secret"
    actor_client_id: str = "agent"
    actor_client_secret: str = "agent-secret"
    audiences: dict[ServiceName, str] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)      # token cache, keyed by preset
    timeout: float = 3.0


class ToolRefused(Exception):
    """The MCP server's gate refused a tool call before any service was asked."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class AuthHandler:
    """MCP-side half of a pattern. The defaults are "add nothing, gate nothing"."""

    #: How the user's context reaches the MCP server.
    user_context: UserContextTransport = "none"
    #: Does the model see an `api_key` argument (03) or does the runtime bind it (04)?
    model_sees_api_key: bool = False

    def model_instructions(self, user: str, api_key: str) -> str:
        """Extra system-prompt text about credentials (pattern 03 tells the model the key)."""
        return ""

    def bound_arguments(self, user: str, api_key: str) -> dict[str, Any]:
        """Tool arguments the runtime fills in outside the model's view (pattern 04)."""
        return {}

    async def before_tool_call(self, call: ToolCall, ctx: McpContext) -> None:
        """Gate: raise ToolRefused to stop the call."""

    async def prepare_request(
        self, call: ToolCall, request: ServiceRequest, ctx: McpContext
    ) -> ServiceRequest:
        """Add credentials to the outbound service request."""
        return request


GetIdentity = Callable[[Request, ServiceContext], Awaitable[Identity]]
Authorize = Callable[[Identity, str, dict[str, Any], ServiceContext], Awaitable[Decision]]


class ServiceAuthModule(Protocol):
    get_identity: GetIdentity
    authorize: Authorize
