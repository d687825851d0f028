"""Pattern 06, MCP side: exchange the user's token (RFC 8693) for one whose audience is the
one service being called."""

from typing import Any

from runtime.pattern_api import AuthHandler, InsufficientScope, McpContext, Outgoing, UserContext
from runtime.presets import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, request_token, verify_access_token


class ExchangeForOneAudience(AuthHandler):
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
        self, user_context: UserContext, headers: dict[str, str], outgoing: Outgoing,
        ctx: McpContext,
    ) -> dict[str, str]:
        # RFC 8693 token exchange: the user's broad token in, a token for one service out.
        issued = await request_token(ctx, {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": ctx.client_id,
            "client_secret": ctx.client_secret,
            "subject_token": user_context.jwt or "",
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": outgoing.audience,
        })
        headers["Authorization"] = f"Bearer {issued.access_token}"
        return headers


auth_handler = ExchangeForOneAudience()
