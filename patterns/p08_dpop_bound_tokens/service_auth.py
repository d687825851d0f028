"""Pattern 08, service side: verify the bound token and its per-request proof, then ask OPA's
relationship policy."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import (
    actor_from,
    ask_opa,
    authorization_token,
    lookup_person,
    verify_access_token,
    verify_dpop_proof,
)


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    token = authorization_token(request, scheme="DPoP")   # "Authorization: DPoP <jwt>"
    # signature, iss, aud, exp, typ, and bound to a key: `cnf.jkt` is required
    claims = await verify_access_token(token, ctx, bound=True)
    if claims["aud"] not in (ctx.audience, [ctx.audience]):
        raise AuthError(f"token is not for {ctx.audience} alone (aud {claims['aud']})",
                        scheme="DPoP")
    if claims["azp"] != "mcp-server":
        raise AuthError(f"token was issued to {claims['azp']!r}, not to 'mcp-server'",
                        scheme="DPoP")
    # Proof of possession (RFC 9449 section 4.3): this request's method and URL, signed
    # just now, never seen before, by the key the token is bound to, for this token.
    verify_dpop_proof(request, ctx, access_token=token, jkt=claims["cnf"]["jkt"])
    person = lookup_person(ctx, claims, scheme="DPoP")  # `sub` -> a person, else 401
    actor = actor_from(claims)    # who acts for the user: `act` (RFC 8693), else `azp`
    return Identity(method="bound_jwt", user_id=person.username, claims=claims,
                    raw_token=token, actor=actor,
                    detail=f"verified DPoP-bound JWT for {ctx.audience}: actor {actor}")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # Relationships decide (stack/opa/rebac.rego), as in pattern 07.
    return await ask_opa(service_context(request), "agentauth/rebac/decision",
                         {"action": action, "resource": resource, "token": identity.claims})
