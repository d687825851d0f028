"""The MCP SDK's OAuth client drives a user login against the IdP (either stack), with
stack.browser as the user's browser: RFC 9728 discovery from a protected resource, RFC 8414
metadata, authorization code + PKCE S256 at the IdP's login form, RFC 9207 `iss`, the code
redeemed with `resource` (RFC 8707), the bearer token sent to the resource.

The protected resource here is a stand-in for the MCP server: it only answers 401 with
`WWW-Authenticate: Bearer resource_metadata=...` until a token comes, then echoes its claims.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import httpx2
import jwt
import pytest
import pytest_asyncio
from mcp.client.auth.oauth2 import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack.asgi_server import AsgiServer
from stack.browser import LoginFailed, log_in

EXTERNAL = os.environ.get("AGENT_AUTH_STACK") == "external"
REDIRECT = "http://127.0.0.1/callback"
ALICE = "8a1f6c1e-0000-4000-8000-00000000a11c"


def protected_resource(issuer: str, base: list[str]) -> Starlette:
    async def metadata(_request: Request) -> Response:
        return JSONResponse(
            {
                "resource": f"{base[0]}/mcp",
                "authorization_servers": [issuer],
                "scopes_supported": ["openid", "mcp:tools"],
            }
        )

    async def mcp(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            challenge = (
                f'Bearer resource_metadata="{base[0]}/.well-known/oauth-protected-resource/mcp"'
            )
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        return JSONResponse(jwt.decode(token, options={"verify_signature": False}))

    return Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource/mcp", metadata, methods=["GET"]),
            Route("/mcp", mcp, methods=["GET", "POST"]),
        ]
    )


@pytest_asyncio.fixture
async def resource(idp_url: str) -> AsyncIterator[str]:
    base: list[str] = []
    server = AsgiServer(protected_resource(f"{idp_url}/realms/agentauth", base), name="resource")
    base.append(await server.start())
    try:
        yield f"{base[0]}/mcp"
    finally:
        await server.stop()


class PresetClient:
    """Token storage holding explorer-cli's registration (the realm has it; no DCR)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull:
        return OAuthClientInformationFull(
            client_id="explorer-cli",
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        raise AssertionError("the client is registered in the realm; no registration")


class RegisteringClient(PresetClient):
    """Token storage with no client: the SDK registers one (RFC 7591) and keeps it here."""

    def __init__(self) -> None:
        super().__init__()
        self.client_info: OAuthClientInformationFull | None = None

    async def get_client_info(self) -> OAuthClientInformationFull | None:  # type: ignore[override]
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def sdk_get(
    resource: str, user: str, grant_types: list[str], redirects: list[AuthorizationCodeResult],
    storage: PresetClient | None = None,
) -> tuple[httpx2.Response, PresetClient]:
    """GET the resource through the SDK's OAuth client, the user logging in on the way."""
    async with httpx.AsyncClient(timeout=15) as browser_http:

        async def open_browser(authorization_url: str) -> None:
            response = await log_in(browser_http, authorization_url, user, f"{user}-pass")
            redirects.append(
                AuthorizationCodeResult(code=response.code, state=response.state, iss=response.iss)
            )

        async def callback() -> AuthorizationCodeResult:
            return redirects[-1]

        storage = storage or PresetClient()
        provider = OAuthClientProvider(
            server_url=resource,
            client_metadata=OAuthClientMetadata(
                redirect_uris=[REDIRECT],
                scope="openid mcp:tools",
                token_endpoint_auth_method="none",
                grant_types=grant_types,
                response_types=["code"],
            ),
            storage=storage,
            redirect_handler=open_browser,
            callback_handler=callback,
        )
        async with httpx2.AsyncClient(auth=provider, timeout=15) as client:
            return await client.get(resource), storage


@pytest.mark.parametrize("user", ["alice", "dave"])
async def test_the_mcp_sdk_logs_the_user_in_through_the_idps_login_form(resource, user):
    redirects: list[AuthorizationCodeResult] = []
    # only "authorization_code": with "refresh_token" the SDK asks for offline_access (below)
    r, storage = await sdk_get(resource, user, ["authorization_code"], redirects)
    assert r.status_code == 200, r.text
    claims = r.json()
    assert claims["preferred_username"] == user and claims["azp"] == "explorer-cli"
    assert claims["jti"].startswith("onrtac:")
    audiences = {claims["aud"]} if isinstance(claims["aud"], str) else set(claims["aud"])
    assert "mcp-server" in audiences
    assert (resource in audiences) is not EXTERNAL  # Keycloak 26.7 ignores RFC 8707 resource
    assert storage.tokens is not None and storage.tokens.refresh_token  # refresh still works
    assert len(redirects) == 1


async def test_with_refresh_token_in_its_grant_types_the_sdk_asks_for_offline_access(resource):
    # SEP-2207: the SDK appends offline_access when the IdP lists it (Keycloak always does)
    # and the client metadata names refresh_token; explorer-cli may not ask for it
    with pytest.raises(LoginFailed) as failed:
        await sdk_get(resource, "bob", ["authorization_code", "refresh_token"], [])
    assert failed.value.error == "invalid_scope"
    assert failed.value.error_description is not None
    assert "offline_access" in failed.value.error_description.split()


async def test_a_client_of_its_own_registers_dynamically_and_logs_the_user_in(resource):
    # What the MCP Inspector's OAuth flow does: no client id given, so the SDK registers one
    # at the metadata's registration_endpoint (RFC 7591), anonymously, under the realm's
    # policies (loopback only), then runs the same code + PKCE login with it.
    storage = RegisteringClient()
    # with refresh_token the SDK registers and asks for offline_access too (SEP-2207)
    r, _ = await sdk_get(resource, "alice", ["authorization_code", "refresh_token"], [], storage)
    assert r.status_code == 200, r.text
    info = storage.client_info
    assert info is not None and info.client_id and info.client_id != "explorer-cli"
    assert info.token_endpoint_auth_method == "none" and info.client_secret is None
    claims = r.json()
    assert claims["azp"] == info.client_id and claims["sub"] == ALICE
    audiences = {claims["aud"]} if isinstance(claims["aud"], str) else set(claims["aud"])
    assert "mcp-server" in audiences
    # only what the registration asked for and the realm's defaults: no service audiences,
    # no may_act (nobody said the agent may act for alice through this client)
    assert not audiences & {"records-service", "directory-service", "knowledge-service"}
    assert "may_act" not in claims
