"""Pattern 06, service side: verify the exchanged token, then ask OPA's role-based policy."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import ask_opa, authorization_token, lookup_person, verify_access_token


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    token = authorization_token(request)              # "Authorization: Bearer <jwt>", else 401
    claims = await verify_access_token(token, ctx)    # signature, iss, aud, exp, typ
    # Audience restriction: a token for this service alone, not one valid everywhere.
    if claims["aud"] not in (ctx.audience, [ctx.audience]):
        raise AuthError(f"token is not for {ctx.audience} alone (aud {claims['aud']})")
    # `azp` names the client the token was issued to: only the MCP server's tokens.
    if claims["azp"] != "mcp-server":
        raise AuthError(f"token was issued to {claims['azp']!r}, not to 'mcp-server'")
    # `azp` does not say how: the MCP server's own client-credentials token has it too.
    person = lookup_person(ctx, claims)     # `sub` -> a person in the directory, else 401
    return Identity(method="scoped_jwt", user_id=person.username, claims=claims,
                    raw_token=token, detail=f"verified JWT for {ctx.audience} alone")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # The role table now lives in OPA (stack/opa/rbac.rego), decided outside the service.
    return await ask_opa(service_context(request), "agentauth/rbac/decision",
                         {"action": action, "resource": resource, "token": identity.claims})
