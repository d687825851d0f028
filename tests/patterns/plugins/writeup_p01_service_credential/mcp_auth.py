"""Pattern 1: Service Credential.

The MCP server uses a single static API key for every tool call.
No user identity is forwarded to the backend service.

(The write-up's p01, written to the bare plugin interface: two methods, nothing more.)
"""

from runtime.pattern_api import AuthHandler

SHARED_SERVICE_API_KEY = "shared_secret"


class ServiceCredentialHandler(AuthHandler):
    async def prepare_request(self, user_context, headers):
        headers["X-API-Key"] = SHARED_SERVICE_API_KEY
        return headers


auth_handler = ServiceCredentialHandler()
