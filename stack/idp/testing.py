"""A small client for tests: speaks to an IdP (embedded over ASGI, or any URL) like a relying party.

async with IdPTestClient.embedded() as kc:
    token = await kc.login("alice")            # authorization code + PKCE, through the login form
    r = await kc.exchange(token, audience="records-service")

Users log in with the authorization code flow (RFC 9700 section 2.4: never the password
grant); `password()` remains to show that the IdP refuses that grant. Passwords and client
secrets come from the realm file both stacks import.
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from jwt.utils import base64url_decode
from mcp.client.auth.oauth2 import PKCEParameters

from stack.browser import AuthorizationResponse, log_in
from stack.clock import Clock

from .realm_file import load_realm
from .server import EmbeddedIdP

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
LOGIN_CLIENT = "explorer-cli"
#: `mcp:tools` makes the token's audience include the MCP server (docs/contracts.md)
DEFAULT_SCOPE = "openid mcp:tools"


@functools.cache
def realm_passwords() -> dict[str, str]:
    return {u.username: u.password for u in load_realm().users.values() if u.password}


@functools.cache
def realm_secrets() -> dict[str, str]:
    return {c.client_id: c.secret for c in load_realm().clients.values() if c.secret}


@functools.cache
def login_redirect_uri() -> str:
    return load_realm().clients[LOGIN_CLIENT].redirect_uris[0]


@dataclass(frozen=True)
class LoginRequest:
    """An authorization request as a client makes it: the URL and what the client keeps."""

    url: str
    state: str | None
    code_verifier: str
    redirect_uri: str | None


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (tests look; verification is tested separately)."""
    body = token.split(".")[1]
    return json.loads(base64url_decode(body))


class IdPTestClient:
    def __init__(
        self, http: httpx.AsyncClient, realm: str = "agentauth", idp: EmbeddedIdP | None = None
    ) -> None:
        self.http = http
        self.realm = realm
        self.idp = idp

    @classmethod
    def embedded(
        cls,
        realm_file: Path | str | None = None,
        clock: Clock | None = None,
        base_url: str = "http://idp.test",
    ) -> IdPTestClient:
        """An EmbeddedIdP reached in-process through httpx.ASGITransport (no socket)."""
        idp = EmbeddedIdP(realm_file, clock)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=idp.app), base_url=base_url)
        return cls(http, idp.realm, idp)

    @classmethod
    def remote(cls, base_url: str, realm: str = "agentauth") -> IdPTestClient:
        return cls(httpx.AsyncClient(base_url=base_url, timeout=10), realm)

    async def __aenter__(self) -> IdPTestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    @property
    def issuer(self) -> str:
        return f"{str(self.http.base_url).rstrip('/')}/realms/{self.realm}"

    def path(self, suffix: str) -> str:
        return f"/realms/{self.realm}/{suffix.lstrip('/')}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    async def token(
        self, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            self.path("protocol/openid-connect/token"), data=data, headers=headers
        )

    async def password(
        self,
        username: str,
        password: str | None = None,
        client_id: str = "explorer-cli",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        data = {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": realm_passwords().get(username, "") if password is None else password,
            **extra,
        }
        return await self.token(data, headers=headers)

    def login_request(self, **params: str | None) -> LoginRequest:
        """An authorization request of explorer-cli with PKCE S256 and a fresh state; a
        keyword overrides a parameter, None leaves it out."""
        pkce = PKCEParameters.generate()
        query: dict[str, str | None] = {
            "response_type": "code",
            "client_id": LOGIN_CLIENT,
            "redirect_uri": login_redirect_uri(),
            "scope": DEFAULT_SCOPE,
            "state": secrets.token_urlsafe(16),
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
            **params,
        }
        sent = {k: v for k, v in query.items() if v is not None}
        url = f"{self.issuer}/protocol/openid-connect/auth?{urlencode(sent)}"
        return LoginRequest(url, sent.get("state"), pkce.code_verifier, sent.get("redirect_uri"))

    async def authorize(
        self, username: str = "alice", password: str | None = None, **params: str | None
    ) -> tuple[AuthorizationResponse, LoginRequest]:
        """Log in at the IdP's login form (stack.browser); LoginFailed when refused."""
        request = self.login_request(**params)
        secret = realm_passwords().get(username, "") if password is None else password
        return await log_in(self.http, request.url, username, secret), request

    async def redeem(
        self,
        code: str,
        code_verifier: str | None,
        *,
        redirect_uri: str | None = None,
        client_id: str = LOGIN_CLIENT,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        """The token request of the authorization code grant (None leaves a field out)."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login_redirect_uri() if redirect_uri is None else redirect_uri,
            "client_id": client_id,
            "code_verifier": code_verifier,
            **extra,
        }
        return await self.token({k: v for k, v in data.items() if v is not None}, headers)

    async def code_flow(
        self,
        username: str = "alice",
        *,
        headers: dict[str, str] | None = None,
        token_extra: dict[str, Any] | None = None,
        **params: str | None,
    ) -> httpx.Response:
        """Log in and redeem the code: the token response. `headers` (e.g. DPoP) and
        `token_extra` go to the token request, `params` to the authorization request."""
        response, request = await self.authorize(username, **params)
        return await self.redeem(
            response.code,
            request.code_verifier,
            redirect_uri=request.redirect_uri,
            headers=headers,
            **(token_extra or {}),
        )

    async def login(self, username: str = "alice", scope: str = DEFAULT_SCOPE) -> str:
        """The user's access token, from the authorization code flow with PKCE."""
        r = await self.code_flow(username, scope=scope)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    async def client_credentials(
        self,
        client_id: str = "agent",
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": realm_secrets().get(client_id, "") if secret is None else secret,
        }
        return await self.token(data, headers=headers)

    async def exchange(
        self,
        subject_token: str,
        *,
        client_id: str = "mcp-server",
        secret: str | None = None,
        audience: str | list[str] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        data: dict[str, Any] = {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": client_id,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            **extra,
        }
        if client_id in realm_secrets() or secret is not None:
            data["client_secret"] = realm_secrets().get(client_id, "") if secret is None else secret
        if audience is not None:
            data["audience"] = audience
        return await self.token(data, headers=headers)
