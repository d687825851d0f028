"""API keys (patterns 02-04): read the one `X-API-Key` header, look a key up in constant time.

A key names a user only because a table says so: whoever holds the string is that user.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from starlette.requests import Request

from runtime.identity import AuthError

if TYPE_CHECKING:
    from runtime.pattern_api import ServiceContext
    from runtime.services.world import User

API_KEY_HEADER = "X-API-Key"
MAX_KEY_CHARS = 256


def presented_api_key(request: Request) -> str:
    """The single `X-API-Key` header, or a 401 (`WWW-Authenticate: ApiKey`)."""
    values = request.headers.getlist(API_KEY_HEADER)
    if not values:  # no credential at all: a bare challenge, no error code (RFC 6750 3.1)
        raise AuthError(f"no {API_KEY_HEADER} header", scheme="ApiKey", error=None)
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_KEY_CHARS:
        raise AuthError(f"a single {API_KEY_HEADER} header is required", scheme="ApiKey",
                        error="invalid_request")
    return values[0]


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much matched."""
    return secrets.compare_digest(presented.encode(), expected.encode())


def owner_of_api_key(ctx: ServiceContext, key: str) -> User | None:
    """The enabled user whose key this is, looked up in constant time; None if nobody's."""
    owner = None
    for known, username in ctx.world().api_keys.items():
        if same_secret(key, known):
            owner = username
    user = ctx.world().users.get(owner) if owner else None
    return None if user is None or user.disabled else user
