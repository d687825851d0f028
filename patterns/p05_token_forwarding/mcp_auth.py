"""Pattern 05, MCP side: the user's own token is forwarded to every service (passthrough)."""

from typing import Any

from runtime.pattern_api import AuthHandler, InsufficientScope, McpContext, UserContext
from runtime.presets import verify_access_token


class ForwardUserToken(AuthHandler):
    user_credential = "bearer_token"    # the agent sends the user's access token
    scopes = ("mcp:tools",)             # the scope a token must carry to be used here

    async def authenticate(self, token: str, ctx: McpContext) -> dict[str, Any]:
        # MCP authorization, on every MCP request (initialize included), before any cached
        # result is used: a valid token issued for this MCP server (`aud` names it) with
        # its scope. No token or a bad one: 401 with our metadata's URL; no scope: 403.
        claims = await verify_access_token(token, ctx)
        if "mcp:tools" not in claims.get("scope", "").split():
            raise InsufficientScope("mcp:tools")
        return claims

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        # Token passthrough: the token we accepted, valid at every service too, goes out
        # unchanged. Checking what we accept does not make forwarding it right.
        headers["Authorization"] = f"Bearer {user_context.jwt}"
        return headers


auth_handler = ForwardUserToken()
