"""EmbeddedIdP: the Keycloak-compatible IdP served in-process on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from stack.asgi_server import AsgiServer
from stack.clock import Clock

from .app import IdPApp, build_app
from .core import IdentityProvider
from .realm_file import load_realm


class EmbeddedIdP:
    """Loads the realm file, generates signing keys and serves the realm's OIDC endpoints.

    `app` is the ASGI app (usable without serving, e.g. with httpx.ASGITransport: the issuer
    is then taken from the request URL); `start()` serves it and pins the issuer to base_url.
    """

    def __init__(self, realm_file: Path | str | None = None, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self.provider = IdentityProvider(load_realm(realm_file), self._clock)
        self.app: Starlette = build_app(self.provider)
        self._server: AsgiServer | None = None

    @property
    def _handlers(self) -> IdPApp:
        return self.app.state.idp_app

    async def start(self) -> str:
        if self._server is None:
            server = AsgiServer(self.app, name="embedded-idp")
            base = await server.start()
            self._handlers.frontend_url = base
            self._server = server
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
            self._handlers.frontend_url = None

    async def __aenter__(self) -> EmbeddedIdP:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmbeddedIdP is not started")
        return self._server.base_url

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def realm(self) -> str:
        return self.provider.realm.name

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def running(self) -> bool:
        return self._server is not None

    def rotate_key(self) -> str:
        """Switch to a new signing key (new kid); the old one stays in the JWKS for an hour."""
        return self.provider.keys.rotate()
