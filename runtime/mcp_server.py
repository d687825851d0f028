"""The MCP server (official `mcp` SDK, streamable HTTP): three tools proxying to the services.

The server is the same for every pattern. The pattern's `AuthHandler` gates each call and
adds credentials to the outbound service request; the user's context arrives as the
`Authorization` header of the MCP transport or as the `api_key` tool argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field
from starlette.types import ASGIApp

from runtime.http import TraceMiddleware
from runtime.identity import AuthError, DependencyError
from runtime.pattern_api import (
    AuthHandler,
    McpContext,
    ServiceName,
    ServiceRequest,
    ToolCall,
    ToolRefused,
)
from runtime.wire import WireTap

ApiKey = Annotated[
    str | None,
    Field(description="Your API key, for key-based deployments. Omit when not given one."),
]


@dataclass
class ToolBackend:
    """Turns a tool call into a service request and runs it through the pattern's handler."""

    handler: AuthHandler
    ctx: McpContext
    services: dict[ServiceName, str]   # service -> base URL
    tap: WireTap

    async def call(
        self, tool: str, arguments: dict[str, Any], request: ServiceRequest, mcp: Context
    ) -> dict[str, Any]:
        headers = mcp.headers or {}
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        call = ToolCall(
            tool=tool,
            arguments={k: v for k, v in arguments.items() if k != "api_key" and v is not None},
            service=request.service,
            bearer_token=bearer,
            api_key=arguments.get("api_key"),
        )
        try:
            await self.handler.before_tool_call(call, self.ctx)
            prepared = await self.handler.prepare_request(call, request, self.ctx)
        except ToolRefused as exc:
            return self._refused(exc.status, exc.reason, "runtime")
        except AuthError as exc:
            return self._refused(401, exc.reason, exc.decided_by)
        except DependencyError as exc:
            return self._refused(503, exc.reason, exc.decided_by)
        except Exception as exc:  # a broken pattern plugin: fail closed, say what broke
            reason = f"the pattern's mcp_auth failed: {type(exc).__name__}: {exc}"
            return self._refused(503, reason, "runtime")
        try:
            response = await self.ctx.http.request(
                prepared.method,
                prepared.url,
                json=prepared.json,
                params=prepared.params or None,
                headers=prepared.headers,
                timeout=self.service_timeout,
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
        surfaces as the service's clear 503 rather than as this call timing out."""
        return self.ctx.timeout * 2 + 1

    def _refused(self, status: int, reason: str, decided_by: str) -> dict[str, Any]:
        self.tap.record(
            "audit", "mcp-server", "gate", f"DENY at the MCP server ({decided_by}): {reason}",
            status=status, data={"gate": {"reason": reason, "decided_by": decided_by}},
        )
        return {"error": {"status": status, "reason": reason, "decided_by": decided_by}}

    def url(self, service: ServiceName, path: str) -> str:
        return self.services[service] + path


def _as_dict(detail: Any) -> dict[str, Any]:
    return detail if isinstance(detail, dict) else {"reason": str(detail)}


def build_mcp_server(backend: ToolBackend) -> MCPServer:
    server = MCPServer(
        "acme-tools",
        log_level="WARNING",
        instructions="Acme's tools: expenses, documents, notes (records) and users (directory).",
    )

    @server.tool()
    async def read_data(
        kind: Literal["expenses", "documents", "notes"],
        ctx: Context,
        query: str | None = None,
        id: int | None = None,
        api_key: ApiKey = None,
    ) -> str:
        """Read Acme data: the caller's expenses, the documents they may see, or public notes.
        `query` filters documents by title words."""
        params = {"query": query} if (kind == "documents" and query) else {}
        request = ServiceRequest("records", "GET", backend.url("records", f"/{kind}"),
                                 params=params)
        args = {"kind": kind, "query": query, "id": id, "api_key": api_key}
        return _dump(await backend.call("read_data", args, request, ctx))

    @server.tool()
    async def write_data(
        action: Literal["submit_expense", "approve_expense", "post_note"],
        ctx: Context,
        expense_id: int | None = None,
        amount: float | None = None,
        description: str | None = None,
        text: str | None = None,
        api_key: ApiKey = None,
    ) -> str:
        """Change Acme data: submit an expense, approve an expense, or post a public note."""
        if action == "submit_expense":
            request = ServiceRequest("records", "POST", backend.url("records", "/expenses"),
                                     json={"amount": amount, "description": description})
        elif action == "approve_expense":
            if expense_id is None:
                return _dump({"error": {"status": 400, "reason": "expense_id is required"}})
            path = f"/expenses/{expense_id}/approve"
            request = ServiceRequest("records", "POST", backend.url("records", path))
        else:
            request = ServiceRequest("records", "POST", backend.url("records", "/notes"),
                                     json={"text": text})
        args = {"action": action, "expense_id": expense_id, "amount": amount,
                "description": description, "text": text, "api_key": api_key}
        return _dump(await backend.call("write_data", args, request, ctx))

    @server.tool()
    async def manage_users(
        action: Literal["list", "set_role", "disable"],
        ctx: Context,
        username: str | None = None,
        role: Literal["admin", "user", "readonly"] | None = None,
        api_key: ApiKey = None,
    ) -> str:
        """Administer Acme's directory: list users, set a user's role, or disable a user."""
        if action == "list":
            request = ServiceRequest("directory", "GET", backend.url("directory", "/users"))
        elif not username:
            return _dump({"error": {"status": 400, "reason": "username is required"}})
        elif action == "set_role":
            if role is None:
                return _dump({"error": {"status": 400, "reason": "role is required"}})
            request = ServiceRequest("directory", "POST",
                                     backend.url("directory", f"/users/{username}/role"),
                                     json={"role": role})
        else:
            request = ServiceRequest("directory", "POST",
                                     backend.url("directory", f"/users/{username}/disable"))
        args = {"action": action, "username": username, "role": role, "api_key": api_key}
        return _dump(await backend.call("manage_users", args, request, ctx))

    return server


def _dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1, default=str)


def build_mcp_app(backend: ToolBackend) -> ASGIApp:
    server = build_mcp_server(backend)
    app = server.streamable_http_app(stateless_http=True, json_response=True)
    return TraceMiddleware(app)
