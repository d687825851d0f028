"""Pattern 04, service side: look the key up, then apply the service's own role table."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import owner_of_api_key, presented_api_key

# The service's own role table (from pattern 06 on, OPA holds these rules: rbac.rego).
READ = {"read_expenses", "read_documents", "read_notes", "search"}
WRITE = {"submit_expense", "post_note", "list_users"}
ADMIN = {"approve_expense", "set_role", "disable_user"}
ALLOWED = {"readonly": READ, "user": READ | WRITE, "admin": READ | WRITE | ADMIN}


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    key = presented_api_key(request)          # the one X-API-Key header, else 401
    user = owner_of_api_key(ctx, key)         # the key table: key -> user (constant time)
    if user is None:
        raise AuthError("invalid API key", scheme="ApiKey")
    # Whoever holds this string *is* this user: nothing else proves it.
    return Identity(method="user_api_key", user_id=user.username,
                    claims={"role": user.role, "department": user.department},
                    raw_token=key, detail="an API key string: whoever holds it is this user")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    role = identity.role or "no role"
    allowed = action in ALLOWED.get(role, set())
    verdict = "may" if allowed else "may not"
    return Decision(allowed, "service", f"{identity.user_id} ({role}) {verdict} {action}")
