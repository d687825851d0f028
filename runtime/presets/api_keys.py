"""API keys (patterns 02-04): one shared key for the agent, or one key per user.

Keys are compared in constant time. A key names a user only because a table says so:
whoever holds the string is that user, which is exactly the lesson of patterns 03 and 04.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request

from runtime.identity import AuthError, Identity
from runtime.pattern_api import (
    AuthHandler,
    McpContext,
    ServiceContext,
    ServiceRequest,
    ToolCall,
    ToolRefused,
)

HEADER = "X-API-Key"
MAX_KEY_CHARS = 256


def _presented_key(request: Request) -> str:
    values = request.headers.getlist(HEADER)
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_KEY_CHARS:
        raise AuthError(f"a single {HEADER} header is required", scheme="ApiKey",
                        error="invalid_request" if not values else "invalid_token")
    return values[0]


async def shared_key_identity(request: Request, ctx: ServiceContext) -> Identity:
    """The service knows it is "the agent" calling, never which user asked."""
    key = _presented_key(request)
    if not secrets.compare_digest(key.encode(), ctx.world().shared_key.encode()):
        raise AuthError("invalid API key", scheme="ApiKey")
    return Identity(method="shared_key", actor="agent", raw_token=key,
                    detail="the agent's shared key: any user, any action")


async def user_key_identity(request: Request, ctx: ServiceContext) -> Identity:
    """The key is looked up in the key table; its owner is taken to be the caller."""
    key = _presented_key(request)
    owner = None
    for known, username in ctx.world().api_keys.items():
        if secrets.compare_digest(key.encode(), known.encode()):
            owner = username
    user = ctx.world().users.get(owner) if owner else None
    if user is None or user.disabled:
        raise AuthError("invalid API key", scheme="ApiKey")
    claims: dict[str, Any] = {"role": user.role, "department": user.department}
    return Identity(method="user_key", user_id=user.username, claims=claims, raw_token=key,
                    detail="an API key string: whoever holds it is this user")


class SharedKey(AuthHandler):
    """The MCP server adds the agent's one key to every service request."""

    async def prepare_request(
        self, call: ToolCall, request: ServiceRequest, ctx: McpContext
    ) -> ServiceRequest:
        return request.with_headers(**{HEADER: ctx.world().shared_key})


class UserKeyArgument(AuthHandler):
    """The user's key arrives as the `api_key` tool argument and is forwarded as is.

    `model_sees_api_key=True` (pattern 03): the key sits in the model's prompt and the model
    fills the argument. False (pattern 04): the runtime binds it outside the model's view.
    """

    user_context = "tool_argument"

    def __init__(self, *, model_sees_api_key: bool) -> None:
        self.model_sees_api_key = model_sees_api_key

    def model_instructions(self, user: str, api_key: str) -> str:
        if not self.model_sees_api_key:
            return ""
        return f"The user's API key is {api_key}. Pass it as api_key to every tool."

    def bound_arguments(self, user: str, api_key: str) -> dict[str, Any]:
        return {} if self.model_sees_api_key else {"api_key": api_key}

    async def before_tool_call(self, call: ToolCall, ctx: McpContext) -> None:
        if not call.api_key:
            raise ToolRefused("no api_key argument: this deployment needs the user's key", 401)

    async def prepare_request(
        self, call: ToolCall, request: ServiceRequest, ctx: McpContext
    ) -> ServiceRequest:
        return request.with_headers(**{HEADER: call.api_key or ""})
