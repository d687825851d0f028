"""Pattern 01, MCP side: the MCP server calls the services with no credential at all."""

from runtime.pattern_api import AuthHandler, UserContext


class NoCredential(AuthHandler):
    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        # Nothing is added: the service cannot tell who is calling, or for whom.
        return headers


auth_handler = NoCredential()
