"""Access tokens as a resource server must check them (RFC 8725, RFC 9068): read the
`Authorization` header, verify the JWT, find the actor.

`verify_access_token` is the one verifier every token pattern calls, on the service side and
at the MCP server: RS256 only, the key only from the configured JWKS (`jku`, `x5u`, `jwk`,
`x5c` and `crit` headers are refused), the exact issuer, the caller's own audience, expiry
and not-before against the explorer's clock (finite numbers only, RFC 7519 NumericDate),
the required claims with their JSON types, and access tokens only (`typ`, RFC 8725 3.11).
A token bound to a key (`cnf`, RFC 9449) is only accepted where the caller says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jwt
from starlette.requests import Request

from runtime.identity import AuthError
from stack.jose import InvalidNumericDate, numeric_date

if TYPE_CHECKING:
    from runtime.pattern_api import ServiceContext, TokenContext
    from runtime.services.world import User

ALGORITHMS = ["RS256"]
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
MAX_TOKEN_BYTES = 8192
LEEWAY = 5.0
#: Claims every access token here must carry, and the JSON type each must have.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "iss": str, "sub": str, "aud": (str, list), "exp": (int, float), "iat": (int, float),
    "azp": str, "preferred_username": str,
}
#: Claims that may be absent, but must have this type when present.
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "nbf": (int, float), "typ": str, "scope": str, "role": str, "department": str,
    "act": dict, "cnf": dict,
}
MAX_PRIOR_ACTORS = 8   # a longer chain is read no further (the IdP allows far fewer)
BOUND_TYPES = frozenset({"Bearer", "DPoP"})   # Keycloak types DPoP-bound tokens "DPoP"


def authorization_token(request: Request, scheme: str = "Bearer") -> str:
    """The token of the single `Authorization: <scheme> <token>` header, or a 401."""
    values = request.headers.getlist("authorization")
    if not values:  # no credential at all: a bare challenge, no error code (RFC 6750 3.1)
        raise AuthError("no access token", scheme=scheme, error=None)
    if len(values) > 1:
        raise AuthError("more than one Authorization header", scheme=scheme,
                        error="invalid_request")
    if len(values[0]) > MAX_TOKEN_BYTES + 16:
        raise AuthError("access token too large", scheme=scheme)
    got_scheme, _, token = values[0].partition(" ")
    if got_scheme.lower() != scheme.lower() or not token.strip():
        raise AuthError(f"expected the {scheme} authorization scheme", scheme=scheme,
                        error="invalid_request")
    return token.strip()


async def verify_access_token(
    token: str, ctx: TokenContext, *, bound: bool = False
) -> dict[str, Any]:
    """The claims of a valid access token issued for `ctx.audience`, or AuthError saying
    what is wrong. `bound=True` requires a DPoP-bound token (`cnf.jkt`); without it a bound
    token is refused, since presenting it as a plain bearer token skips its proof."""
    try:
        return await _verify(token, ctx, bound)
    except AuthError as exc:  # the challenge names the scheme in use (RFC 9449 section 7.1)
        if not bound:
            raise
        raise AuthError(exc.reason, scheme="DPoP", error=exc.error,
                        decided_by=exc.decided_by) from None


async def _verify(token: str, ctx: TokenContext, bound: bool) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError("access token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"malformed token: {exc}") from None
    if header.get("alg") not in ALGORITHMS:
        raise AuthError(f"algorithm {header.get('alg')!r} not allowed (only RS256)")
    refused = [h for h in FORBIDDEN_HEADERS if h in header]
    if refused:
        raise AuthError(f"token header carries {', '.join(refused)}; keys come only from "
                        "the JWKS")
    key = await ctx.jwks.key(header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key=key, algorithms=ALGORITHMS, issuer=ctx.issuer, audience=ctx.audiences,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "require": list(REQUIRED)},
        )
    except jwt.InvalidAudienceError:
        raise AuthError(f"token audience is not {ctx.audience}") from None
    except jwt.InvalidIssuerError:
        raise AuthError("token issuer is not the configured identity provider") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token lacks the {exc.claim} claim") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    _check_types(claims)
    _check_times(claims, ctx.clock.now())
    typ = claims.get("typ")
    if typ not in (BOUND_TYPES if bound else {"Bearer"}):
        raise AuthError(f"a {typ} token is not accepted here as an access token")
    jkt = claims.get("cnf", {}).get("jkt")
    if bound and not (isinstance(jkt, str) and jkt):
        raise AuthError("token is not bound to a key (no cnf.jkt)")
    if not bound and "cnf" in claims:
        raise AuthError("a sender-constrained (DPoP) token presented as a Bearer token")
    return claims


def _check_types(claims: dict[str, Any]) -> None:
    for name, kinds in (*REQUIRED.items(), *OPTIONAL.items()):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise AuthError(f"token claim {name} has the wrong type ({type(value).__name__})")
    aud = claims["aud"]
    if isinstance(aud, list) and not all(isinstance(a, str) for a in aud):
        raise AuthError("token claim aud lists something that is not a string")


def _check_times(claims: dict[str, Any], now: float) -> None:
    try:   # finite JSON numbers only (RFC 7519 section 2): NaN never expires, inf neither
        iat = numeric_date(claims["iat"], "iat")
        exp = numeric_date(claims["exp"], "exp")
        nbf = numeric_date(claims["nbf"], "nbf") if "nbf" in claims else iat
    except InvalidNumericDate as exc:
        raise AuthError(f"token claim {exc}") from None
    if now >= exp + LEEWAY:
        raise AuthError("token expired")
    if iat > now + LEEWAY or nbf > now + LEEWAY:
        raise AuthError("token is not valid yet")


def lookup_person(ctx: ServiceContext, claims: dict[str, Any], *, scheme: str = "Bearer") -> User:
    """The person in Acme's directory the token's `sub` names (the issuer was checked, and
    `sub` is unique within it; `preferred_username` is not, OIDC Core 5.1). A service
    account (a client-credentials token, of any client) or an unknown subject is refused:
    where a user is required, only a human user of the realm is one."""
    person = ctx.world().person(claims["sub"])
    if person is None:
        name = claims.get("preferred_username")
        raise AuthError(f"the token's subject {claims['sub']!r} ({name}) is not a person in "
                        "Acme's directory (a service account?)", scheme=scheme)
    if person.disabled:
        raise AuthError(f"{person.username} is disabled", scheme=scheme)
    return person


def actor_from(claims: dict[str, Any]) -> str | None:
    """Who acts for the user: RFC 8693 `act.sub` when the IdP emits it, else the authorized
    party `azp` (Keycloak's token exchange names the requesting client only there)."""
    act = claims.get("act")
    if isinstance(act, dict):
        who = act.get("client_id") or act.get("sub")   # the client reads better than its id
        if not isinstance(who, str) or not who:
            raise AuthError("token claim act names no actor (act.sub)")
        return who
    azp = claims.get("azp")
    return azp if isinstance(azp, str) and azp else None


def prior_actors_from(claims: dict[str, Any]) -> tuple[str, ...]:
    """The earlier actors of a delegation chain, most recent first (`act.act`, then its
    `act`...). RFC 8693 section 4.1: informational only, for the audit, never for access
    control; the token service judged the chain when it made the token."""
    names: list[str] = []
    act = claims.get("act")
    node = act.get("act") if isinstance(act, dict) else None
    while isinstance(node, dict) and len(names) < MAX_PRIOR_ACTORS:
        who = node.get("client_id") or node.get("sub")
        if not isinstance(who, str) or not who:
            raise AuthError("token claim act.act names no actor (sub)")
        names.append(who)
        node = node.get("act")
    return tuple(names)
