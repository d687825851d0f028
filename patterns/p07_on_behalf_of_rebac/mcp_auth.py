"""Pattern 07, MCP side: exchange on behalf of the user, with the agent as actor (RFC 8693
delegation)."""

from runtime.pattern_api import AuthHandler, AuthorizationDenied, McpContext, Outgoing, UserContext
from runtime.presets import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, request_token, verify_access_token


class OnBehalfOf(AuthHandler):
    user_credential = "bearer_token"    # the agent sends the user's access token

    async def before_tool_call(
        self, user_context: UserContext, tool_name: str, ctx: McpContext
    ) -> bool:
        if not user_context.jwt:
            raise AuthorizationDenied("no user token on the MCP request "
                                      "(Authorization: Bearer ...)", 401)
        # Every call, before any cached exchange is reused: the user's token is valid
        # and was issued for this MCP server (`aud` names mcp-server).
        await verify_access_token(user_context.jwt, ctx)
        return True

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str], outgoing: Outgoing,
        ctx: McpContext,
    ) -> dict[str, str]:
        # The acting party's own token: the client "agent" (client credentials).
        actor = await request_token(ctx, {
            "grant_type": "client_credentials",
            "client_id": ctx.actor_client_id,
            "client_secret": ctx.actor_client_secret,
        })
        # RFC 8693 delegation: the user stays the subject, the agent is named as actor.
        issued = await request_token(ctx, {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": ctx.client_id,
            "client_secret": ctx.client_secret,
            "subject_token": user_context.jwt or "",
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": actor.access_token,
            "actor_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": outgoing.audience,
        })
        headers["Authorization"] = f"Bearer {issued.access_token}"
        return headers


auth_handler = OnBehalfOf()
