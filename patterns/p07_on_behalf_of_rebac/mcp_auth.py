"""Pattern 07, MCP side: exchange on behalf of the user, with the agent as actor (RFC 8693
delegation)."""

from typing import Any

from runtime.pattern_api import (
    AuthHandler,
    AuthorizationDenied,
    InsufficientScope,
    McpContext,
    Outgoing,
    UserContext,
)
from runtime.presets import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, request_token, verify_access_token


class OnBehalfOf(AuthHandler):
    user_credential = "bearer_token"    # the agent sends the user's access token,
    actor_credential = "actor_token"    # and its own (got with a secret we do not hold)
    scopes = ("mcp:tools",)             # the scope a token must carry to be used here

    async def authenticate(self, token: str, ctx: McpContext) -> dict[str, Any]:
        # MCP authorization, on every MCP request (initialize included), before any cached
        # result is used: a valid token issued for this MCP server (`aud` names it) with
        # its scope. No token or a bad one: 401 with our metadata's URL; no scope: 403.
        claims = await verify_access_token(token, ctx)
        if "mcp:tools" not in claims.get("scope", "").split():
            raise InsufficientScope("mcp:tools")
        return claims

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        if not user_context.actor_token:
            raise AuthorizationDenied("no actor token: the agent did not say who it is "
                                      "(X-Actor-Token)", 401)
        return True

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str], outgoing: Outgoing,
        ctx: McpContext,
    ) -> dict[str, str]:
        # RFC 8693 delegation: the user stays the subject, the agent is named as actor. The
        # IdP checks the user's token allows it (`may_act`) and verifies the agent's token.
        issued = await request_token(ctx, {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": ctx.client_id,
            "client_secret": ctx.client_secret,
            "subject_token": user_context.jwt or "",
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": user_context.actor_token or "",
            "actor_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": outgoing.audience,
        })
        headers["Authorization"] = f"Bearer {issued.access_token}"
        return headers


auth_handler = OnBehalfOf()
