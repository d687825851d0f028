"""Pattern 02, service side: check the shared key, then allow everything."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import presented_api_key, same_secret


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    key = presented_api_key(request)                    # the one X-API-Key header, else 401
    if not same_secret(key, ctx.world().shared_key):    # constant-time comparison
        raise AuthError("invalid API key", scheme="ApiKey")
    # The key proves "the agent" is calling. Which user asked, the service never learns.
    return Identity(method="api_key", raw_token=key, actor="agent",
                    detail="the agent's shared key: any user, any action")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # With no user to check, a valid key may do everything.
    return Decision(True, "service", f"{action}: the agent's key may do anything")
