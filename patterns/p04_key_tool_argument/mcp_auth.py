"""Pattern 04, MCP side: the runtime binds the user's key to each call; the model never
sees it."""

from typing import Any

from runtime.pattern_api import AuthHandler, AuthorizationDenied, UserContext


class KeyBoundByRuntime(AuthHandler):
    user_credential = "api_key_argument"    # the key travels as the `api_key` tool argument

    def bound_arguments(self, user: str, api_key: str) -> dict[str, Any]:
        # Filled in by the runtime after the model chose the call: the model never holds
        # the key, so no text it reads can make it post the key.
        return {"api_key": api_key}

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        if not user_context.api_key:
            raise AuthorizationDenied("no api_key argument: this deployment needs the "
                                      "user's key", 401)
        return True

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        headers["X-API-Key"] = user_context.api_key or ""
        return headers


auth_handler = KeyBoundByRuntime()
