"""The one factory that builds every HTTP client, with the wire tap attached by event hooks.

The agent's OpenAI client, the MCP client (which uses httpx2), the MCP server's clients to
services, IdP and OPA, and the scripted attacker all come from here, so every hop is seen
and carries the prompt's trace id. No monkeypatching.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.tokens import brief
from runtime.wire import (
    HopKind,
    WireTap,
    current_trace,
    trace_from_traceparent,
    traceparent,
    tracing,
)

_START = "agent_auth_started"
#: Every request the runtime's own clients send to the MCP server or the IdP carries this
#: header, with a value random per process, so the server's InboundTap knows them from a
#: client's of your own (they are recorded by the client that sent them). The wire never
#: shows it.
OWN_REQUEST = "x-agent-auth-own"
_OWN_MARK = secrets.token_hex(16)


def _new_own_mark() -> None:
    """A forked process (a lab session forked by `agent-auth lab host`, a matrix worker) is
    another process: its mark must not be its parent's, which every sibling also has."""
    global _OWN_MARK
    _OWN_MARK = secrets.token_hex(16)


os.register_at_fork(after_in_child=_new_own_mark)
#: A request extension: fields for its hop's `data` (a replay names the hop it replays).
HOP_DATA = "agent_auth_hop_data"
MAX_BODY_SHOWN = 64_000


@dataclass(frozen=True)
class Endpoint:
    prefix: str
    kind: HopKind
    name: str


@dataclass
class EndpointMap:
    """Which base URL is which party, so a hop can be labelled (service, idp, opa, ...)."""

    endpoints: list[Endpoint] = field(default_factory=list)

    def add(self, prefix: str, kind: HopKind, name: str) -> None:
        self.endpoints.append(Endpoint(prefix.rstrip("/"), kind, name))

    def classify(self, url: str) -> Endpoint:
        best: Endpoint | None = None
        for endpoint in self.endpoints:
            if url.startswith(endpoint.prefix) and (
                best is None or len(endpoint.prefix) > len(best.prefix)
            ):
                best = endpoint
        return best or Endpoint("", "service", httpx.URL(url).host or "?")


def _text(content: bytes) -> str:
    text = content[:MAX_BODY_SHOWN].decode("utf-8", errors="replace")
    return text if len(content) <= MAX_BODY_SHOWN else text + "\n[... truncated]"


def _summarize(kind: HopKind, method: str, path: str, body: str) -> str:
    if kind == "mcp" and body.startswith("{"):
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return f"{method} {path}"
        rpc = message.get("method", "") if isinstance(message, dict) else ""
        if rpc == "tools/call":  # the body is the caller's: any JSON may stand anywhere
            params = message.get("params")
            name = params.get("name", "?") if isinstance(params, dict) else "?"
            return f"tools/call {brief(name, 60)}"
        return brief(rpc, 60) if rpc else f"{method} {path}"
    if kind == "idp" and "grant_type=" in body:
        grant = dict(httpx.QueryParams(body)).get("grant_type", "")
        return "token " + grant.rsplit(":", 1)[-1]
    if kind == "opa":
        return "decide " + path.removeprefix("/v1/data/")
    return f"{method} {path}"


class TapHooks:
    """httpx/httpx2 event hooks that record a hop per request/response pair."""

    def __init__(
        self, tap: WireTap, endpoints: EndpointMap, source: str, kind: HopKind | None = None
    ) -> None:
        self.tap, self.endpoints, self.source, self.kind = tap, endpoints, source, kind

    async def on_request(self, request: Any) -> None:
        trace = current_trace()
        if trace:
            request.headers["traceparent"] = traceparent(trace)
        if self.endpoints.classify(str(request.url)).kind in ("mcp", "idp"):
            request.headers[OWN_REQUEST] = _OWN_MARK   # servers a client of yours also calls
        request.extensions[_START] = (time.perf_counter(), self.tap.now())

    async def on_response(self, response: Any) -> None:
        await response.aread()
        request = response.request
        started, wall = request.extensions.get(_START, (time.perf_counter(), self.tap.now()))
        url = str(request.url)
        endpoint = self.endpoints.classify(url)
        body = _text(request.content if hasattr(request, "content") else b"")
        extra: dict[str, Any] = {}
        if endpoint.kind == "opa":
            extra = _opa_fields(body, response.text)
        extra.update(request.extensions.get(HOP_DATA, {}))
        summary = _summarize(endpoint.kind, request.method, request.url.path, body)
        replay = extra.get("replay")
        if isinstance(replay, dict):
            of = replay.get("of")
            summary = (f"replay of #{of}: " if of is not None else "replay: ") + summary
        self.tap.record(
            self.kind or endpoint.kind,
            self.source,
            endpoint.name,
            summary,
            trace_id=trace_from_traceparent(request.headers.get("traceparent")) or None,
            method=request.method,
            url=url,
            status=response.status_code,
            request_headers=tuple((k, v) for k, v in request.headers.items()
                                  if k.lower() != OWN_REQUEST),
            request_body=body,
            response_headers=tuple(response.headers.items()),
            response_body=_text(response.content),
            started_at=wall,
            duration_ms=(time.perf_counter() - started) * 1000,
            data=extra,
        )


def _opa_fields(request_body: str, response_body: str) -> dict[str, Any]:
    try:
        return {
            "opa_input": json.loads(request_body).get("input"),
            "opa_result": json.loads(response_body).get("result"),
        }
    except (ValueError, AttributeError):
        return {}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One default TLS context per process: building one costs ~70 ms (CA bundle load),
    and a client is made per turn."""
    return ssl.create_default_context()


def warm_tls() -> None:
    """Build the TLS context now: the lab host does, once, for every session it forks."""
    _ssl_context()


def make_client(
    tap: WireTap,
    endpoints: EndpointMap,
    source: str,
    *,
    timeout: float = 10.0,
    kind: HopKind | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """`kind` labels every hop of this client (the attacker's); else the URL decides."""
    hooks = TapHooks(tap, endpoints, source, kind)
    kwargs.setdefault("verify", _ssl_context())
    return httpx.AsyncClient(
        timeout=timeout,
        event_hooks={"request": [hooks.on_request], "response": [hooks.on_response]},
        **kwargs,
    )


def make_client2(
    tap: WireTap, endpoints: EndpointMap, source: str, *, timeout: float = 30.0, **kwargs: Any
) -> httpx2.AsyncClient:
    """The MCP SDK's transport and the openai SDK take httpx2 clients; the same hooks apply."""
    hooks = TapHooks(tap, endpoints, source)
    kwargs.setdefault("verify", _ssl_context())
    return httpx2.AsyncClient(
        timeout=timeout,
        event_hooks={"request": [hooks.on_request], "response": [hooks.on_response]},
        **kwargs,
    )


class TraceMiddleware:
    """ASGI middleware: adopt the caller's trace id so this server's own hops join the trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = ""
        for key, raw in scope.get("headers", []):
            if key == b"traceparent":
                value = raw.decode("latin-1")
                break
        with tracing(trace_from_traceparent(value)):
            await self.app(scope, receive, send)


class InboundTap:
    """ASGI middleware for a server with callers of its own (`agent-auth serve`, the
    explorer's connect screen): a hop for each request from a client outside the runtime,
    so what your client sent is on the wire beside what it caused. The runtime's own
    clients mark their requests (OWN_REQUEST) and record them themselves."""

    def __init__(self, app: ASGIApp, tap: WireTap, target: str, *, kind: HopKind = "mcp",
                 source: str = "client") -> None:
        self.app, self.tap, self.target = app, tap, target
        self.kind, self.source = kind, source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _own(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        kept = 0
        started, wall = time.perf_counter(), self.tap.now()

        async def reading() -> Any:
            nonlocal kept
            message = await receive()
            if message["type"] == "http.request" and kept <= MAX_BODY_SHOWN:
                chunks.append(message.get("body", b""))   # enough to show, not the whole
                kept += len(chunks[-1])
            return message

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":   # a stream's status is known here
                self._record(scope, b"".join(chunks), message, started, wall)
            await send(message)

        await self.app(scope, reading, sending)

    def _record(self, scope: Scope, body: bytes, start: Any, started: float,
                wall: float) -> None:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in scope.get("headers", []))
        host = dict(headers).get("host", "")
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}" + (
            f"?{query}" if query else "")
        text = _text(body)
        self.tap.record(
            self.kind, self.source, self.target,
            _summarize(self.kind, scope["method"], scope["path"], text),
            trace_id=trace_from_traceparent(dict(headers).get("traceparent")) or None,
            method=scope["method"], url=url, status=start["status"],
            request_headers=headers, request_body=text,
            response_headers=tuple((k.decode("latin-1"), v.decode("latin-1"))
                                   for k, v in start.get("headers", [])),
            started_at=wall, duration_ms=(time.perf_counter() - started) * 1000)


def _own(scope: Scope) -> bool:
    mark = _OWN_MARK.encode()
    return any(k == OWN_REQUEST.encode() and secrets.compare_digest(v, mark)
               for k, v in scope.get("headers", []))
