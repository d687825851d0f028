"""Pattern 03, MCP side: the user's API key is in the model's prompt; the model passes it."""

from runtime.pattern_api import AuthHandler, AuthorizationDenied, UserContext


class KeyInPrompt(AuthHandler):
    user_credential = "api_key_argument"    # the key travels as the `api_key` tool argument

    def model_instructions(self, user: str, api_key: str) -> str:
        # The key sits in the model's context, where any text the model reads can ask for it.
        return f"The user's API key is {api_key}. Pass it as api_key to every tool."

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        if not user_context.api_key:
            raise AuthorizationDenied("no api_key argument: this deployment needs the "
                                      "user's key", 401)
        return True

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        # Whatever key the model chose to pass goes out: the MCP server cannot tell.
        headers["X-API-Key"] = user_context.api_key or ""
        return headers


auth_handler = KeyInPrompt()
