"""Pattern 05, service side: verify the user's JWT, then apply the service's own role table."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import Decision, Identity, service_context
from runtime.presets import authorization_token, lookup_person, verify_access_token

# The service's own role table (from pattern 06 on, OPA holds these rules: rbac.rego).
READ = {"read_expenses", "read_documents", "read_notes", "search"}
WRITE = {"submit_expense", "post_note", "list_users"}
ADMIN = {"approve_expense", "set_role", "disable_user"}
ALLOWED = {"readonly": READ, "user": READ | WRITE, "admin": READ | WRITE | ADMIN}


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    token = authorization_token(request)              # "Authorization: Bearer <jwt>", else 401
    # RS256 signature by a key from the IdP's JWKS; exact issuer; `aud` includes this
    # service; not expired; an access token. Any token naming this service passes.
    claims = await verify_access_token(token, ctx)
    person = lookup_person(ctx, claims)     # `sub` -> a person in the directory, else 401
    return Identity(method="jwt", user_id=person.username, claims=claims,
                    raw_token=token, detail=f"verified JWT, aud {claims['aud']}")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    role = identity.role or "no role"
    allowed = action in ALLOWED.get(role, set())
    verdict = "may" if allowed else "may not"
    return Decision(allowed, "service", f"{identity.user_id} ({role}) {verdict} {action}")
