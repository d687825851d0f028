"""Pattern 02, MCP side: the agent's one shared API key on every request."""

from runtime.pattern_api import AuthHandler, McpContext, UserContext


class SharedApiKey(AuthHandler):
    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str], ctx: McpContext
    ) -> dict[str, str]:
        # The same key whoever asked: alice, bob and dave look alike to the service.
        headers["X-API-Key"] = ctx.shared_key
        return headers


auth_handler = SharedApiKey()
