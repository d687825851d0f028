"""The MCP server as an OAuth protected resource (MCP authorization spec, RFC 9728, RFC 6750).

Wraps the MCP app when the pattern's `auth_handler` defines `authenticate(token, ctx)`:

- `GET /.well-known/oauth-protected-resource/mcp` (and the root form) serves the RFC 9728
  metadata: the resource identifier (the MCP URL), the realm as authorization server, and
  the scopes the handler names; any other path under that prefix is 404, since the
  metadata there would be for a resource this server is not (RFC 9728 section 3.1);
- every MCP request, `initialize` included, needs `Authorization: Bearer <token>` that the
  handler accepts: none gets 401 with a bare challenge naming the metadata, a refused one
  401 `invalid_token`, a missing scope 403 `insufficient_scope` (RFC 6750 section 3.1).

What the MCP server accepts is the pattern's code; only the HTTP mechanics are here. The
SDK's own bearer middleware is not used because it drops the reason (the explorer shows
why a token was refused) and reads the wall clock, not the explorer's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.routes import build_resource_metadata_url
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.identity import AuthError, DependencyError
from runtime.pattern_api import InsufficientScope
from runtime.wire import WireTap

Authenticate = Callable[[str], Awaitable[Any]]
METADATA_PREFIX = "/.well-known/oauth-protected-resource"


class ResourceServer:
    """ASGI middleware; `bind(resource)` once the server's URL is known."""

    def __init__(self, app: ASGIApp, *, issuer: str, scopes: tuple[str, ...],
                 authenticate: Authenticate, tap: WireTap) -> None:
        self.app, self.authenticate, self.tap = app, authenticate, tap
        self.issuer, self.scopes = issuer, scopes
        self.metadata_url = ""
        self.metadata: dict[str, Any] = {}
        self.metadata_paths = frozenset({METADATA_PREFIX})

    def bind(self, resource: str) -> None:
        """The MCP endpoint's URL: the resource identifier the metadata names."""
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(resource)))
        self.metadata_paths = frozenset({METADATA_PREFIX, urlsplit(self.metadata_url).path})
        self.metadata = ProtectedResourceMetadata(
            resource=AnyHttpUrl(resource), authorization_servers=[AnyHttpUrl(self.issuer)],
            scopes_supported=list(self.scopes) or None, bearer_methods_supported=["header"],
            resource_name="Acme tools (MCP server)",
        ).model_dump(mode="json", exclude_none=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path == METADATA_PREFIX or path.startswith(METADATA_PREFIX + "/"):
            if path in self.metadata_paths:
                await _send_json(send, 200, self.metadata, [])
            else:
                await _send_json(send, 404, {"error": "not_found", "error_description":
                                             "no protected resource here; its metadata is at "
                                             + self.metadata_url}, [])
            return
        refusal = await self._check(_headers(scope, b"authorization"))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, challenge, reason = refusal
        headers = [(b"www-authenticate", challenge.encode())] if challenge else []
        gate: dict[str, str | bool] = {"reason": reason, "decided_by": "runtime"}
        if not _headers(scope, b"authorization"):   # the spec's first step, not a verdict
            gate["challenge"] = True
        self.tap.record("audit", "mcp-server", "gate",
                        f"DENY at the MCP transport (runtime): {reason}", status=status,
                        data={"gate": gate})
        body = {"error": _error_of(challenge) if challenge else "temporarily_unavailable",
                "error_description": reason}
        await _send_json(send, status, body, headers)

    async def _check(self, values: list[str]) -> tuple[int, str | None, str] | None:
        """None to let the request through, else (status, WWW-Authenticate, reason)."""
        if not values:
            return 401, self._challenge(), "no access token on the MCP request"
        scheme, _, token = values[0].partition(" ")
        if len(values) > 1 or scheme.lower() != "bearer" or not token.strip():
            return 401, self._challenge("invalid_request", "expected one Bearer token"), (
                "expected one Authorization: Bearer header")
        try:
            await self.authenticate(token.strip())
        except InsufficientScope as exc:
            return 403, self._challenge("insufficient_scope", exc.reason), exc.reason
        except AuthError as exc:
            return 401, self._challenge("invalid_token", exc.reason), exc.reason
        except DependencyError as exc:   # fail closed: the IdP's keys are out of reach
            return 503, None, exc.reason
        except Exception as exc:  # noqa: BLE001 - a broken pattern: fail closed, say what broke
            return 503, None, f"the pattern's authenticate failed: {type(exc).__name__}: {exc}"
        return None

    def _challenge(self, error: str | None = None, description: str = "") -> str:
        params = [f'resource_metadata="{self.metadata_url}"']
        if self.scopes:
            params.append(f'scope="{" ".join(self.scopes)}"')
        if error:   # no credential at all: no error code (RFC 6750 section 3.1)
            text = description.replace('"', "'").replace("\\", "/")
            params[:0] = [f'error="{error}"', f'error_description="{text}"']
        return "Bearer " + ", ".join(params)


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]


def _error_of(challenge: str) -> str:
    marker = 'error="'
    return challenge.split(marker, 1)[1].split('"', 1)[0] if marker in challenge else (
        "unauthorized")


async def _send_json(send: Send, status: int, body: Any,
                     headers: list[tuple[bytes, bytes]]) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode()), *headers]})
    await send({"type": "http.response.body", "body": raw})
