"""A small client for tests: speaks to an IdP (embedded over ASGI, or any URL) like a relying party.

async with IdPTestClient.embedded() as kc:
    token = await kc.login("alice")
    r = await kc.exchange(token, audience="records-service")
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx

from stack.clock import Clock

from .server import EmbeddedIdP

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass", "dave": "dave-pass"}
SECRETS = {"mcp-server": "mcp-server-secret", "agent": "agent-secret"}


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (tests look; verification is tested separately)."""
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


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
            "password": PASSWORDS.get(username, "") if password is None else password,
            **extra,
        }
        return await self.token(data, headers=headers)

    async def login(self, username: str = "alice", scope: str | None = None) -> str:
        r = await (self.password(username, scope=scope) if scope else self.password(username))
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
            "client_secret": SECRETS.get(client_id, "") if secret is None else secret,
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
        if client_id in SECRETS or secret is not None:
            data["client_secret"] = SECRETS.get(client_id, "") if secret is None else secret
        if audience is not None:
            data["audience"] = audience
        return await self.token(data, headers=headers)
