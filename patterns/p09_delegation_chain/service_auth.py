"""Pattern 09, service side: pattern 08's bound token and proof; the current actor and the
granted scope decide (OPA), the earlier actors of the chain go to the audit."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import (
    actor_from,
    ask_opa,
    authorization_token,
    lookup_person,
    prior_actors_from,
    verify_access_token,
    verify_dpop_proof,
)


async def get_identity(request: Request) -> Identity:
    ctx = service_context(request)
    token = authorization_token(request, scheme="DPoP")   # "Authorization: DPoP <jwt>"
    claims = await verify_access_token(token, ctx, bound=True)
    if claims["aud"] not in (ctx.audience, [ctx.audience]):
        raise AuthError(f"token is not for {ctx.audience} alone (aud {claims['aud']})",
                        scheme="DPoP")
    if claims["azp"] != "mcp-server":
        raise AuthError(f"token was issued to {claims['azp']!r}, not to 'mcp-server'",
                        scheme="DPoP")
    verify_dpop_proof(request, ctx, access_token=token, jkt=claims["cnf"]["jkt"])
    person = lookup_person(ctx, claims, scheme="DPoP")
    actor = actor_from(claims)           # the current actor: `act.sub`
    # RFC 8693 section 4.1: the earlier actors (`act.act`) are informational. They go to
    # the audit, not to the policy's decision.
    prior = prior_actors_from(claims)
    chain = "".join(f", delegated by {p}" for p in prior)
    return Identity(method="chained_jwt", user_id=person.username, claims=claims,
                    raw_token=token, actor=actor, prior_actors=prior,
                    detail=f"verified DPoP-bound JWT for {ctx.audience}: actor {actor}{chain}, "
                           f"scope {claims.get('scope', '')!r}")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # The granted scope first (a read-only task never writes), then pattern 07's
    # relationships (stack/opa/chain.rego).
    return await ask_opa(service_context(request), "agentauth/chain/decision",
                         {"action": action, "resource": resource, "token": identity.claims})
