"""The MCP server (official `mcp` SDK, streamable HTTP): four tools proxying to the services.

The server is the same for every pattern. The pattern's `auth_handler` gates each call
(`before_tool_call`) and adds credentials to the outbound service request
(`prepare_request`); the user's context arrives as the `Authorization` header of the MCP
transport, the `api_key` tool argument and the `user` the agent names in `_meta`.
Arguments that end up in a URL are checked against a strict grammar first: a tool does
exactly and only what it names.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import BeforeValidator, Field, ValidationError
from starlette.types import ASGIApp

from runtime.errors import field_problems
from runtime.http import TraceMiddleware
from runtime.identity import AuthError, DependencyError
from runtime.pattern_api import (
    ACTOR_TOKEN_HEADER,
    AuthorizationDenied,
    McpContext,
    Outgoing,
    ServiceName,
    UserContext,
)
from runtime.plugin import McpPlugin, PluginError
from runtime.resource_server import ResourceServer
from runtime.wire import WireTap
from stack.cors import LoopbackCors
from stack.errors import ExplorerError

ApiKey = Annotated[
    str | None,
    Field(description="Your API key, for key-based deployments. Omit when not given one.",
          max_length=256),
]
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
MAX_AMOUNT = 1_000_000


def _json_integer(value: object) -> object:
    """`integer` as JSON Schema reads it (4, 4.0), not as pydantic's lax mode does: it took
    `true` for expense 1 and "4" for 4. A tool does only what its arguments say."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ValueError(f"expected a JSON integer, got {json.dumps(value)[:40]}")


ExpenseId = Annotated[int | None, BeforeValidator(_json_integer), Field(ge=1, le=2**31)]
# a JSON number (an integer is one), never a boolean or a numeric string
Amount = Annotated[float | None, Field(strict=True)]


@dataclass(frozen=True)
class ServiceRequest:
    """A request the MCP server is about to send to a tool service."""

    service: ServiceName
    method: str
    url: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None


class BadArguments(ExplorerError, ValueError):
    """Tool arguments the MCP server refuses before any service is asked."""


@dataclass
class ToolBackend:
    """Turns a tool call into a service request and runs it through the pattern's handler."""

    plugin: McpPlugin
    ctx: McpContext
    services: dict[ServiceName, str]   # service -> base URL
    audiences: dict[ServiceName, str]  # service -> its audience at the IdP
    tap: WireTap

    async def call(
        self, tool: str, request: ServiceRequest, mcp: Context, api_key: str | None
    ) -> dict[str, Any]:
        user_context = _user_context(mcp, api_key)
        outgoing = Outgoing(tool, request.service, self.audiences[request.service],
                            request.method, request.url)
        deadline = asyncio.timeout(self.service_timeout)
        try:
            async with deadline:
                if not await self.plugin.before_tool_call(user_context, tool, outgoing,
                                                          self.ctx):
                    return self._refused(403, f"before_tool_call refused {tool}", "runtime")
                headers = await self.plugin.prepare_request(user_context, {}, outgoing,
                                                            self.ctx)
        except TimeoutError as exc:
            reason = (f"the pattern's mcp_auth did not return within "
                      f"{self.service_timeout:.1f}s" if deadline.expired()
                      else f"the pattern's mcp_auth failed: TimeoutError: {exc}")
            return self._refused(503, reason, "runtime")
        except AuthorizationDenied as exc:
            return self._refused(exc.status, exc.reason, "runtime")
        except AuthError as exc:
            return self._refused(401, exc.reason, exc.decided_by or "runtime")
        except DependencyError as exc:
            return self._refused(503, exc.reason, exc.decided_by)
        except PluginError as exc:
            return self._refused(503, f"the pattern's mcp_auth broke the contract: {exc}",
                                 "runtime")
        except Exception as exc:  # noqa: BLE001 - a broken pattern plugin: fail closed
            reason = f"the pattern's mcp_auth failed: {type(exc).__name__}: {exc}"
            return self._refused(503, reason, "runtime")
        try:
            response = await self.ctx.http.request(
                request.method, request.url, json=request.json, params=request.params,
                headers=headers, timeout=self.service_timeout,
            )
        except httpx.TimeoutException:
            return {"error": {"status": 504, "reason": f"{request.service} did not answer in "
                              f"{self.service_timeout:.1f}s"}}
        except httpx.HTTPError as exc:
            why = str(exc) or type(exc).__name__
            return {"error": {"status": 503, "reason": f"{request.service} unreachable: {why}"}}
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:2000]}
        if response.status_code >= 400:
            detail = body.get("detail", body) if isinstance(body, dict) else body
            return {"error": {"status": response.status_code, **_as_dict(detail)}}
        return body if isinstance(body, dict) else {"result": body}

    @property
    def service_timeout(self) -> float:
        """Longer than the services' own calls to the IdP and OPA, so that a slow dependency
        surfaces as the service's clear 503 rather than as this call timing out; also what
        the pattern's hooks get (two IdP calls in a row fit), well inside the agent's wait."""
        return self.ctx.timeout * 2 + 1

    def _refused(self, status: int, reason: str, decided_by: str) -> dict[str, Any]:
        self.tap.record(
            "audit", "mcp-server", "gate", f"DENY at the MCP server ({decided_by}): {reason}",
            status=status, data={"gate": {"reason": reason, "decided_by": decided_by}},
        )
        return {"error": {"status": status, "reason": reason, "decided_by": decided_by}}

    def bad_arguments(self, tool: str, reason: str) -> str:
        return _dump(self._refused(400, f"{tool}: {reason}", "runtime"))

    def refuse(self, status: int, reason: str) -> None:
        """On the wire: the MCP server refused a call before any tool ran."""
        self._refused(status, reason, "runtime")

    def url(self, service: ServiceName, path: str) -> str:
        return self.services[service] + path


def _user_context(mcp: Context, api_key: Any) -> UserContext:
    headers = mcp.headers or {}
    auth = headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    meta = getattr(mcp.request_context, "meta", None)
    user = meta.get("user") if isinstance(meta, Mapping) else None
    return UserContext(user=user if isinstance(user, str) else None, jwt=bearer or None,
                       api_key=api_key if isinstance(api_key, str) and api_key else None,
                       actor_token=headers.get(ACTOR_TOKEN_HEADER.lower()) or None)


def _username(value: str | None) -> str:
    if not value:
        raise BadArguments("username is required")
    if not USERNAME.match(value):
        raise BadArguments(f"username {value[:80]!r} is not a user name (lowercase letters, "
                           "digits, '.', '_' or '-')")
    return quote(value, safe="")


def _amount(value: float | None) -> float:
    if value is None or not math.isfinite(value) or not 0 < value < MAX_AMOUNT:
        raise BadArguments(f"amount must be a number between 0 and {MAX_AMOUNT:,}")
    return value


def _as_dict(detail: Any) -> dict[str, Any]:
    return detail if isinstance(detail, dict) else {"reason": str(detail)}


#: How long a caller may reuse the tool list (it is fixed while a runtime runs).
TOOLS_TTL_MS = 10 * 60 * 1000


class _Server(MCPServer):
    """The SDK's server, but a call it refuses before any tool runs (arguments its schema
    does not take, a tool it does not have) is on the wire as the MCP server's refusal,
    like every other, and tells the caller what to fix in one line."""

    backend: ToolBackend

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context | None = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc, UnexpectedToolError):
                raise
            if isinstance(exc.__cause__, ValidationError):
                problem = field_problems(exc.__cause__.errors())
                self.backend.refuse(400, f"{name}: {problem}")
                raise ToolError(f"Error executing tool {name}: {problem}") from exc.__cause__
            if self._tool_manager.get_tool(name) is None:
                self.backend.refuse(400, f"no tool named {name[:60]!r}")
            raise


def build_mcp_server(backend: ToolBackend) -> MCPServer:
    server = _Server(
        "acme-tools",
        log_level="WARNING",
        instructions="Acme's tools: expenses, documents, notes (records), users (directory) "
                     "and search over the documents (knowledge).",
        # the tool list is fixed while the runtime runs: a client may reuse it (per caller)
        cache_hints={"tools/list": CacheHint(ttl_ms=TOOLS_TTL_MS, scope="private")},
    )
    server.backend = backend

    @server.tool()
    async def read_data(
        kind: Literal["expenses", "documents", "notes"],
        ctx: Context,
        query: Annotated[str | None, Field(max_length=200)] = None,
        api_key: ApiKey = None,
    ) -> str:
        """Read Acme data: the caller's expenses, the documents they may see, or public notes.
        `query` filters documents by title words."""
        params = {"query": query} if (kind == "documents" and query) else None
        request = ServiceRequest("records", "GET", backend.url("records", f"/{kind}"),
                                 params=params)
        return _dump(await backend.call("read_data", request, ctx, api_key))

    @server.tool()
    async def write_data(
        action: Literal["submit_expense", "approve_expense", "post_note"],
        ctx: Context,
        expense_id: ExpenseId = None,
        amount: Amount = None,
        description: Annotated[str | None, Field(max_length=500)] = None,
        text: Annotated[str | None, Field(max_length=4000)] = None,
        api_key: ApiKey = None,
    ) -> str:
        """Change Acme data: submit an expense, approve an expense, or post a public note."""
        try:
            if action == "submit_expense":
                body = {"amount": _amount(amount), "description": description}
                request = ServiceRequest("records", "POST", backend.url("records", "/expenses"),
                                         json=body)
            elif action == "approve_expense":
                if expense_id is None:
                    raise BadArguments("expense_id is required")
                path = f"/expenses/{int(expense_id)}/approve"
                request = ServiceRequest("records", "POST", backend.url("records", path))
            else:
                request = ServiceRequest("records", "POST", backend.url("records", "/notes"),
                                         json={"text": text})
        except BadArguments as exc:
            return backend.bad_arguments("write_data", str(exc))
        return _dump(await backend.call("write_data", request, ctx, api_key))

    @server.tool()
    async def manage_users(
        action: Literal["list", "set_role", "disable"],
        ctx: Context,
        username: str | None = None,
        role: Literal["admin", "user", "readonly"] | None = None,
        api_key: ApiKey = None,
    ) -> str:
        """Administer Acme's directory: list users, set a user's role, or disable a user."""
        try:
            if action == "list":
                request = ServiceRequest("directory", "GET", backend.url("directory", "/users"))
            elif action == "set_role":
                if role is None:
                    raise BadArguments("role is required")
                path = f"/users/{_username(username)}/role"
                request = ServiceRequest("directory", "POST", backend.url("directory", path),
                                         json={"role": role})
            else:
                path = f"/users/{_username(username)}/disable"
                request = ServiceRequest("directory", "POST", backend.url("directory", path))
        except BadArguments as exc:
            return backend.bad_arguments("manage_users", str(exc))
        return _dump(await backend.call("manage_users", request, ctx, api_key))

    @server.tool()
    async def search(
        query: Annotated[str, Field(min_length=1, max_length=200)],
        ctx: Context,
        api_key: ApiKey = None,
    ) -> str:
        """Search Acme's documents: the passages that best answer `query`, with their
        document's title (for citing)."""
        request = ServiceRequest("knowledge", "GET", backend.url("knowledge", "/search"),
                                 params={"q": query})
        return _dump(await backend.call("search", request, ctx, api_key))

    return server


def _dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1, default=str)


def build_mcp_app(backend: ToolBackend, issuer: str) -> tuple[ASGIApp, ResourceServer | None]:
    """The MCP endpoint, behind the pattern's `authenticate` when it has one (then the
    returned ResourceServer must be bound to the endpoint's URL once it is served)."""
    server = build_mcp_server(backend)
    app: ASGIApp = server.streamable_http_app(stateless_http=True, json_response=True)
    gate = None
    if backend.plugin.authenticates:
        async def authenticate(token: str) -> object:
            return await backend.plugin.authenticate(token, backend.ctx)

        gate = ResourceServer(app, issuer=issuer, scopes=backend.plugin.scopes,
                              authenticate=authenticate, tap=backend.tap)
        app = gate
    # a browser client (the Inspector's UI) reads the challenge and the metadata from the page;
    # preflights are answered here, before the gate (they carry no credential)
    app = LoopbackCors(app, ["GET", "POST", "DELETE"],
                       expose=["WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version"])
    return TraceMiddleware(app), gate
