"""Pattern 08, MCP side: delegated tokens bound to the MCP server's key (DPoP, RFC 9449),
with a fresh proof on every request."""

from typing import Any

from runtime.pattern_api import (
    AuthHandler,
    AuthorizationDenied,
    InsufficientScope,
    McpContext,
    Outgoing,
    UserContext,
)
from runtime.presets import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    request_token,
    sign_dpop_proof,
    verify_access_token,
)


class BoundOnBehalfOf(AuthHandler):
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
        # RFC 8693 delegation, as in pattern 07, and a proof of our key: the IdP binds the
        # new token to it (its thumbprint goes in `cnf.jkt`, RFC 9449 section 5).
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
        }, dpop_proof=sign_dpop_proof(ctx, "POST", ctx.token_url))
        # The DPoP scheme, and a new proof for this one request: method, URL, token hash.
        headers["Authorization"] = f"DPoP {issued.access_token}"
        headers["DPoP"] = sign_dpop_proof(ctx, outgoing.method, outgoing.url,
                                          access_token=issued.access_token)
        return headers


auth_handler = BoundOnBehalfOf()
