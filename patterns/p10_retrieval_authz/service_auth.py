"""Pattern 10, service side: pattern 09's identity and policy, and authorization at
retrieval: OPA decides which chunks of the search index the caller may see, in one
decision over all of them, before anything is ranked."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Filter, Identity, service_context
from runtime.presets import (
    actor_from,
    ask_opa,
    ask_opa_filter,
    authorization_token,
    lookup_person,
    prior_actors_from,
    verify_access_token,
    verify_dpop_proof,
)


async def get_identity(request: Request) -> Identity:
    # As in pattern 09: a bound token and its proof, the current actor and the chain.
    ctx = service_context(request)
    token = authorization_token(request, scheme="DPoP")
    claims = await verify_access_token(token, ctx, bound=True)
    if claims["aud"] not in (ctx.audience, [ctx.audience]):
        raise AuthError(f"token is not for {ctx.audience} alone (aud {claims['aud']})",
                        scheme="DPoP")
    if claims["azp"] != "mcp-server":
        raise AuthError(f"token was issued to {claims['azp']!r}, not to 'mcp-server'",
                        scheme="DPoP")
    verify_dpop_proof(request, ctx, access_token=token, jkt=claims["cnf"]["jkt"])
    person = lookup_person(ctx, claims, scheme="DPoP")
    actor = actor_from(claims)
    prior = prior_actors_from(claims)
    chain = "".join(f", delegated by {p}" for p in prior)
    return Identity(method="chained_jwt", user_id=person.username, claims=claims,
                    raw_token=token, actor=actor, prior_actors=prior,
                    detail=f"verified DPoP-bound JWT for {ctx.audience}: actor {actor}{chain}, "
                           f"scope {claims.get('scope', '')!r}")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # May this caller search at all, and do the rest: pattern 09's policy.
    return await ask_opa(service_context(request), "agentauth/chain/decision",
                         {"action": action, "resource": resource, "token": identity.claims})


async def visible(
    identity: Identity, action: str, items: list[dict[str, Any]], request: Request
) -> Filter:
    # Which chunks may this caller see? Each item is a chunk's document attributes
    # ({"id", "document", "visibility"}), never its text. One question for all of them
    # (stack/opa/retrieval.rego): one round trip however large the index.
    return await ask_opa_filter(service_context(request), "agentauth/retrieval/filter",
                                {"action": action, "token": identity.claims, "chunks": items})
