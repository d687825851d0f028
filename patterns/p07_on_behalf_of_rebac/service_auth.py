"""Pattern 07, service side: verify the delegated token, then ask OPA's relationship policy
(who the user is, whom they manage, and who is acting)."""

from typing import Any

from starlette.requests import Request

from runtime.pattern_api import AuthError, Decision, Identity, service_context
from runtime.presets import (
    actor_from,
    ask_opa,
    authorization_token,
    lookup_person,
    verify_access_token,
)


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
    person = lookup_person(ctx, claims)     # `sub` -> a person in the directory, else 401
    actor = actor_from(claims)    # who acts for the user: `act` (RFC 8693), else `azp`
    return Identity(method="delegated_jwt", user_id=person.username,
                    claims=claims, raw_token=token, actor=actor,
                    detail=f"verified JWT for {ctx.audience}: user and actor {actor}")


async def authorize(
    identity: Identity, action: str, resource: dict[str, Any], request: Request
) -> Decision:
    # Relationships decide (stack/opa/rebac.rego): bob approves alice's expense because
    # alice reports to bob; nobody approves their own; an agent never disables users.
    return await ask_opa(service_context(request), "agentauth/rebac/decision",
                         {"action": action, "resource": resource, "token": identity.claims})
