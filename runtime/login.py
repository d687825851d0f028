"""How a user logs in: the authorization code flow with PKCE (RFC 6749 section 4.1, RFC 7636),
with the runtime playing the user's browser on the identity provider's own login page.

The agent is the user's OAuth client (`explorer-cli`, a public client: no secret). Where the
pattern's MCP server is a protected resource, the login is the MCP authorization spec's: the
MCP server answers 401 naming its metadata (RFC 9728), and the agent's MCP client (the `mcp`
SDK's `OAuthClientProvider`) discovers the identity provider, sends the browser there and
trades the code for a token for the MCP server (scope `mcp:tools`, and the RFC 8707
`resource`). For the other patterns the agent logs the user in directly, for reference.
Either way the password is typed into the IdP's page by the browser; the agent and the MCP
server never see it. The wire shows the browser's hops as the user's and the token request
as the agent's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.oauth2 import PKCEParameters
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from stack.browser import AuthorizationResponse, LoginFailed, log_in
from stack.clock import Clock
from stack.errors import ExplorerError

LOGIN_CLIENT = "explorer-cli"
REDIRECT_URI = "http://127.0.0.1/callback"   # never followed: the browser reads the code
MCP_SCOPE = "mcp:tools"
EXPIRY_MARGIN = 10.0

CLIENT_METADATA = OAuthClientMetadata(
    client_name="Agent Auth Explorer", redirect_uris=[AnyUrl(REDIRECT_URI)],
    # No refresh_token grant: a user whose token expires logs in again (and the SDK would
    # otherwise ask for offline_access, which this client is not given).
    token_endpoint_auth_method="none", grant_types=["authorization_code"],
    response_types=["code"],
)
#: Registered in the realm file, so the SDK skips dynamic client registration.
CLIENT_INFO = OAuthClientInformationFull(client_id=LOGIN_CLIENT,
                                         **CLIENT_METADATA.model_dump(exclude_none=True))


class LoginError(ExplorerError):
    """The user could not be logged in; the message says why."""


@dataclass
class UserTokens:
    """One user's tokens, in the SDK's `TokenStorage` shape, valid by the explorer's clock."""

    clock: Clock
    tokens: OAuthToken | None = None
    expires_at: float = 0.0

    async def get_tokens(self) -> OAuthToken | None:
        if self.tokens is None or self.clock.now() >= self.expires_at - EXPIRY_MARGIN:
            return None
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.expires_at = self.clock.now() + float(tokens.expires_in or 60)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return CLIENT_INFO

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """The client is registered in the realm; nothing to keep."""

    @property
    def access_token(self) -> str | None:
        valid = self.tokens is not None and self.clock.now() < self.expires_at - EXPIRY_MARGIN
        return self.tokens.access_token if valid and self.tokens else None


LoginCache = dict[str, UserTokens]
"""Each user's tokens by name. A caller may keep one across runners of the same pattern (the
explorer does: a pattern switch restarts the runner, and nobody should log in again)."""


@dataclass
class Logins:
    """Each user's login state for one runner, and the two ways to log in."""

    clock: Clock
    issuer: str
    passwords: dict[str, str]
    browser_client: Callable[[str], httpx.AsyncClient]   # user -> the user's browser
    agent_http: httpx.AsyncClient                         # the agent, as OAuth client
    users: dict[str, UserTokens] = field(default_factory=dict)

    def storage(self, user: str) -> UserTokens:
        return self.users.setdefault(user, UserTokens(self.clock))

    def forget(self, user: str | None = None) -> None:
        """Everyone's login state, or one user's."""
        if user is None:
            self.users.clear()
        else:
            self.users.pop(user, None)

    def provider(self, user: str, mcp_url: str) -> OAuthClientProvider:
        """The SDK's MCP-client OAuth flow for `user`, with this runtime as their browser."""
        pending: list[AuthorizationResponse] = []

        async def open_browser(authorization_url: str) -> None:
            pending.append(await self._browse(user, authorization_url))

        async def read_redirect() -> AuthorizationCodeResult:
            answer = pending.pop()
            return AuthorizationCodeResult(code=answer.code, state=answer.state, iss=answer.iss)

        return OAuthClientProvider(mcp_url, CLIENT_METADATA.model_copy(), self.storage(user),
                                   redirect_handler=open_browser, callback_handler=read_redirect)

    async def log_in_directly(self, user: str, scope: str = f"openid {MCP_SCOPE}") -> str:
        """The authorization code flow with PKCE, straight at the IdP (no MCP server)."""
        body = await self.token_response(user, scope)
        try:
            tokens = OAuthToken.model_validate(body)
        except ValueError as exc:
            raise LoginError(f"the token endpoint answered no usable token: {exc}") from None
        await self.storage(user).set_tokens(tokens)
        return tokens.access_token

    async def token_response(self, user: str, scope: str) -> dict[str, Any]:
        """The token endpoint's whole answer (access, refresh and ID token) to a login."""
        pkce, state = PKCEParameters.generate(), secrets.token_urlsafe(16)
        metadata = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        query = urlencode({
            "response_type": "code", "client_id": LOGIN_CLIENT, "redirect_uri": REDIRECT_URI,
            "scope": scope, "state": state, "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
        })
        answer = await self._browse(user, f"{metadata['authorization_endpoint']}?{query}")
        if answer.state != state or (answer.iss is not None and answer.iss != self.issuer):
            raise LoginError("the authorization response does not match the request "
                             "(state or iss, RFC 9207)")
        return await self._post_json(str(metadata["token_endpoint"]), {
            "grant_type": "authorization_code", "client_id": LOGIN_CLIENT,
            "code": answer.code, "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.code_verifier,
        })

    async def _browse(self, user: str, authorization_url: str) -> AuthorizationResponse:
        password = self.passwords.get(user)
        if password is None:
            raise LoginError(f"{user} has no demo password in the realm file")
        async with self.browser_client(user) as browser:
            try:
                return await log_in(browser, authorization_url, user, password)
            except LoginFailed as exc:
                raise LoginError(f"{user} could not log in: {exc}") from None

    async def _get_json(self, url: str) -> dict[str, Any]:
        return _json_of(await self._request("GET", url))

    async def _post_json(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        response = await self._request("POST", url, data=form)
        body = _json_of(response)
        if response.status_code != 200:
            why = body.get("error_description") or body.get("error") or response.status_code
            raise LoginError(f"the token endpoint refused the code: {why}")
        return body

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.agent_http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise LoginError(f"the identity provider is unreachable: {type(exc).__name__}"
                             ) from None


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LoginError(f"{response.request.url} answered HTTP {response.status_code}, not JSON")
    return body
