"""EmbeddedIdP: the Keycloak-compatible IdP served in-process on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from stack.asgi_server import Observable, Served
from stack.clock import Clock

from .app import IdPApp, build_app
from .core import IdentityProvider
from .realm_file import load_realm


class EmbeddedIdP(Served):
    """Loads the realm file, generates signing keys and serves the realm's OIDC endpoints.

    `app` is the ASGI app (usable without serving, e.g. with httpx.ASGITransport: the issuer
    is then taken from the request URL); `start()` serves it and pins the issuer to base_url.
    """

    server_name = "embedded-idp"

    def __init__(self, realm_file: Path | str | None = None, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self.provider = IdentityProvider(load_realm(realm_file), self._clock)
        self.app: Starlette = build_app(self.provider)
        self.front = Observable(self.app)   # what is served; the runtime may tap it

    @property
    def _handlers(self) -> IdPApp:
        return self.app.state.idp_app

    def _started(self, base_url: str) -> None:
        self._handlers.frontend_url = base_url  # pin the issuer to the served URL

    def _stopped(self) -> None:
        self._handlers.frontend_url = None

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def realm(self) -> str:
        return self.provider.realm.name

    @property
    def clock(self) -> Clock:
        return self._clock

    def rotate_key(self) -> str:
        """Switch to a new signing key (new kid); the old one stays in the JWKS for an hour."""
        return self.provider.keys.rotate()
