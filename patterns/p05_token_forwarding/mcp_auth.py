"""Pattern 05, MCP side: the user's own token is forwarded to every service (passthrough)."""

from runtime.pattern_api import AuthHandler, AuthorizationDenied, UserContext


class ForwardUserToken(AuthHandler):
    user_credential = "bearer_token"    # the agent sends the user's access token

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        if not user_context.jwt:
            raise AuthorizationDenied("no user token on the MCP request "
                                      "(Authorization: Bearer ...)", 401)
        return True

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        # Token passthrough: the user's token, valid at every service, goes out unchanged.
        headers["Authorization"] = f"Bearer {user_context.jwt}"
        return headers


auth_handler = ForwardUserToken()
