"""Verified access tokens (RFC 8725): the service-side check patterns 05-08 share.

Pinned algorithm (RS256), keys only from the configured JWKS, exact issuer, this service's
audience, expiry against the service clock, required claims, access tokens only (Keycloak's
`typ: Bearer`), no `jku`/`x5u`/`jwk`/`x5c` header honoured (they are rejected), size capped
before any decoding. Bound tokens (`cnf`) are refused when presented as plain Bearer tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from starlette.requests import Request

from runtime.identity import AuthError, Identity, IdentityMethod
from runtime.pattern_api import ServiceContext

ALGORITHMS = ["RS256"]
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "azp", "preferred_username")
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
MAX_TOKEN_BYTES = 8192
LEEWAY = 5.0


def bearer_from(request: Request, scheme: str = "Bearer") -> str:
    values = request.headers.getlist("authorization")
    if not values:
        raise AuthError("no access token", scheme=scheme, error="invalid_request")
    if len(values) > 1:
        raise AuthError("more than one Authorization header", scheme=scheme,
                        error="invalid_request")
    value = values[0]
    if len(value) > MAX_TOKEN_BYTES + 16:
        raise AuthError("access token too large", scheme=scheme)
    got_scheme, _, token = value.partition(" ")
    if got_scheme.lower() != scheme.lower() or not token.strip():
        raise AuthError(f"expected the {scheme} authorization scheme", scheme=scheme,
                        error="invalid_request")
    return token.strip()


ACCESS_TYPES = frozenset({"Bearer"})
BOUND_ACCESS_TYPES = frozenset({"Bearer", "DPoP"})  # Keycloak types DPoP-bound tokens "DPoP"


async def verify_access_token(
    token: str, ctx: ServiceContext, *, types: frozenset[str] = ACCESS_TYPES,
    issued_to: str | None = None,
) -> dict[str, Any]:
    """Claims of a valid access token for this service, or AuthError saying what is wrong.

    `issued_to` pins the authorized party (`azp`): only tokens the IdP issued to that client
    (the MCP server's exchanges) are accepted, not the user's own login token."""
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError("access token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"malformed token: {exc}") from None
    if header.get("alg") not in ALGORITHMS:
        raise AuthError(f"algorithm {header.get('alg')!r} not allowed (only RS256)")
    bad = [h for h in FORBIDDEN_HEADERS if h in header]
    if bad:
        raise AuthError(f"token header carries {', '.join(bad)}; keys come only from the JWKS")
    key = await ctx.jwks.key(header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=ALGORITHMS,
            issuer=ctx.stack.issuer,
            audience=ctx.audience,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "require": list(REQUIRED_CLAIMS)},
        )
    except jwt.InvalidAudienceError:
        raise AuthError(f"token audience is not {ctx.audience}") from None
    except jwt.InvalidIssuerError:
        raise AuthError("token issuer is not the configured identity provider") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token lacks the {exc.claim} claim") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    _check_times(claims, ctx.clock.now())
    if claims.get("typ") not in types:  # explicit typing (RFC 8725 3.11): no typ, no entry
        raise AuthError(f"a {claims.get('typ')} token is not accepted here as an access token")
    if issued_to is not None and claims.get("azp") != issued_to:
        raise AuthError(f"token was issued to {claims.get('azp')!r}, not to {issued_to!r}")
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    try:
        exp, iat = float(claims["exp"]), float(claims["iat"])
        nbf = float(claims.get("nbf", iat))
    except (TypeError, ValueError):
        raise AuthError("token times are not numbers") from None
    if now >= exp + LEEWAY:
        raise AuthError("token expired")
    if iat > now + LEEWAY or nbf > now + LEEWAY:
        raise AuthError("token is not valid yet")


def actor_of(claims: dict[str, Any], *, azp_is_actor: bool) -> str | None:
    """RFC 8693 `act` names the actor; Keycloak without delegation only has `azp`."""
    act = claims.get("act")
    if isinstance(act, dict):
        return str(act.get("client_id") or act.get("sub") or "") or None
    if azp_is_actor and claims.get("azp"):
        return str(claims["azp"])
    return None


def identity_from(
    claims: dict[str, Any], token: str, method: IdentityMethod, *, azp_is_actor: bool
) -> Identity:
    aud = claims.get("aud")
    return Identity(
        method=method,
        user_id=str(claims["preferred_username"]),
        claims=claims,
        raw_token=token,
        actor=actor_of(claims, azp_is_actor=azp_is_actor),
        detail=f"verified RS256 token from {claims['iss']} for {aud}",
    )


def verified_jwt(
    *, azp_is_actor: bool = False, issued_to: str | None = None
) -> Callable[[Request, ServiceContext], Awaitable[Identity]]:
    """get_identity for plain Bearer tokens: the caller is the token's user."""

    async def get_identity(request: Request, ctx: ServiceContext) -> Identity:
        token = bearer_from(request)
        claims = await verify_access_token(token, ctx, issued_to=issued_to)
        if "cnf" in claims:
            raise AuthError("a sender-constrained (DPoP) token presented as a Bearer token")
        return identity_from(claims, token, "jwt", azp_is_actor=azp_is_actor)

    return get_identity
