"""Small servers the battery and the fault tests need, all on 127.0.0.1 (ephemeral ports).

* `AttackerServer`: what a `jku`/`x5u` header (or a shell-ish `kid`) would make a careless
  verifier fetch. It serves the attacker's JWKS and certificate and counts every request,
  so an attack can assert that nothing ever reached it. As a rogue MCP server (`/mcp`) it
  answers 401 naming protected-resource metadata that claims someone else's resource, and
  keeps every bearer token a client sends it.
* `SlowServer`: answers every request only after `delay` seconds (a hung IdP).
* `closed_url()`: an http URL on a port nobody listens on (an IdP that is down).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from stack.asgi_server import AsgiServer
from stack.jose import public_jwk


def self_signed_cert(key: Any, name: str = "attacker.example") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


class AttackerServer:
    """Serves /jwks.json and /cert.pem for the attacker's key; counts every hit."""

    def __init__(self, key: Any, kid: str = "attacker-kid") -> None:
        self.key, self.kid = key, kid
        self.hits: list[str] = []
        self.bearers: list[str] = []
        self.claimed_resource = "http://127.0.0.1:9/mcp"     # set by an attack
        self.authorization_server = "http://127.0.0.1:9"     # set by an attack
        self.cert = self_signed_cert(key)
        self._server: AsgiServer | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._any,
                                           methods=["GET", "POST", "HEAD"])])

    async def _any(self, request: Request) -> Response:
        self.hits.append(f"{request.method} {request.url.path}")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            self.bearers.append(auth[7:])
        if request.url.path.startswith("/.well-known/oauth-protected-resource"):
            return JSONResponse({"resource": self.claimed_resource,
                                 "authorization_servers": [self.authorization_server],
                                 "scopes_supported": ["mcp:tools"]})
        if request.url.path == "/mcp":
            challenge = (f'Bearer resource_metadata="{self.base_url}/.well-known/'
                         'oauth-protected-resource/mcp"')
            return JSONResponse({"error": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": challenge})
        if request.url.path.endswith("jwks.json"):
            return JSONResponse({"keys": [public_jwk(self.key, kid=self.kid, use="sig",
                                                     alg="RS256")]})
        if request.url.path.endswith(".pem"):
            pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
            return PlainTextResponse(pem)
        return PlainTextResponse("attacker")

    async def start(self) -> str:
        if self._server is None:
            self._server = AsgiServer(self.app, name="attacker")
            await self._server.start()
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "attacker server not started"
        return self._server.base_url


class SlowServer:
    """Every request waits `delay` seconds, then gets a 504: an IdP that hangs."""

    def __init__(self, delay: float = 5.0) -> None:
        self.delay = delay
        self.hits = 0
        self._server: AsgiServer | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._any,
                                           methods=["GET", "POST"])])

    async def _any(self, request: Request) -> Response:
        self.hits += 1
        await asyncio.sleep(self.delay)
        return JSONResponse({"error": "too slow"}, status_code=504)

    async def start(self) -> str:
        if self._server is None:
            self._server = AsgiServer(self.app, name="slow")
            await self._server.start()
        return self._server.base_url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None


def closed_url() -> str:
    """http://127.0.0.1:<port> where nothing listens (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
