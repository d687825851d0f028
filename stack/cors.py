"""CORS for browser-based clients of your own, such as the MCP Inspector's UI, which runs
the OAuth flow in the page (origin http://localhost:6274): discovery, registration and the
token request are `fetch`es the browser sends only when the server allows the origin.

Only loopback origins are allowed (every server here listens on 127.0.0.1 for a developer on
the same machine), without credentials: a page from elsewhere gets no CORS answer. A request
without `Origin` (every client that is not a browser page) passes untouched, so the wire
shows no CORS headers where no browser is involved (nothing caches these responses).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$"
MAX_AGE = 600


class LoopbackCors:
    """ASGI middleware: `app` answering CORS (preflights before any authentication) for
    loopback origins, and untouched for requests without an `Origin`."""

    def __init__(self, app: ASGIApp, methods: Sequence[str], expose: Sequence[str] = ()) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, allow_origin_regex=LOOPBACK_ORIGIN,
                                   allow_methods=list(methods), allow_headers=["*"],
                                   expose_headers=list(expose), max_age=MAX_AGE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "origin" in Headers(scope=scope):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
