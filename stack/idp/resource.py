"""Endpoints that consume tokens: userinfo (RFC 6750 / RFC 9449), introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from stack.jose.dpop import ALLOWED_ALGS, DPoPError, ReplayCacheFull, verify_proof

from .core import DPOP_LEEWAY, DPOP_MAX_AGE, IdentityProvider, replay_cache_full
from .errors import OAuthError, invalid_request
from .forms import Form
from .mappers import apply_mappers
from .realm import Client
from .tokens import ACCESS, InvalidToken, audiences_of


def _challenge(
    realm: str,
    scheme: str = "Bearer",
    error: str | None = "invalid_token",
    description: str = "Token verification failed",
    status: int = 401,
) -> OAuthError:
    """Keycloak's userinfo refusal: a status, a WWW-Authenticate challenge, no body."""
    params = [f'realm="{realm}"']
    if scheme == "DPoP":
        params.insert(0, f'algs="{" ".join(ALLOWED_ALGS)}"')
    if error:
        params += [f'error="{error}"', f'error_description="{description}"']
    header = f"{scheme} {', '.join(params)}"
    return OAuthError(
        status,
        error or "invalid_request",
        description,
        headers={"WWW-Authenticate": header},
        empty_body=True,
    )


def _bound_jkt(claims: dict[str, Any]) -> str | None:
    cnf = claims.get("cnf")
    return cnf.get("jkt") if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str) else None


def userinfo(
    idp: IdentityProvider, headers: Headers, method: str, url: str, issuer: str
) -> dict[str, Any]:
    """Claims about the token's user (the token needs the openid scope, as in Keycloak);
    401 with a WWW-Authenticate challenge for a missing or bad token."""
    realm = idp.realm.name
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        raise _challenge(realm, error=None)
    challenge_scheme = "DPoP" if scheme == "dpop" else "Bearer"
    try:
        claims = idp.tokens.verify(token, issuer)
    except InvalidToken:
        raise _challenge(realm, challenge_scheme) from None
    jkt = _bound_jkt(claims)
    if jkt is not None or scheme == "dpop":
        proofs = headers.getlist("dpop")
        if scheme != "dpop" or jkt is None or len(proofs) != 1:
            raise _challenge(realm, challenge_scheme)
        try:
            verify_proof(
                proofs[0],
                htm=method,
                htu=url,
                now=idp.clock.now(),
                replay=idp.replay,
                access_token=token,
                expected_jkt=jkt,
                max_age=DPOP_MAX_AGE,
                leeway=DPOP_LEEWAY,
            )
        except DPoPError:
            raise _challenge(realm, "DPoP") from None
        except ReplayCacheFull as exc:
            raise replay_cache_full(exc) from None
    if "openid" not in str(claims.get("scope", "")).split():
        raise _challenge(realm, challenge_scheme, "insufficient_scope", "Missing openid scope", 403)
    user = idp.tokens.subject(claims)
    client = idp.realm.clients.get(str(claims.get("azp")))
    if user is None or client is None:
        raise _challenge(realm, challenge_scheme)
    optional = [s for s in str(claims.get("scope", "")).split() if s in client.optional_scopes]
    scopes, _openid = idp.resolve_scopes(client, " ".join(optional) or None)
    mappers = [*(m for s in scopes for m in s.mappers), *client.mappers]
    mapped = apply_mappers(mappers, user, idp.realm, token="userinfo")
    mapped.claims.pop("sub", None)
    return {"sub": user.id, **mapped.claims}


def introspect(idp: IdentityProvider, client: Client, form: Form, issuer: str) -> dict[str, Any]:
    """RFC 7662: the token's claims and `active: true`, or just `active: false`."""
    if client.public:
        raise OAuthError(403, "invalid_request", "Client not allowed.")
    token = form.get("token")
    if not token:
        raise invalid_request("Token not provided.")
    try:  # Keycloak 26.7 reports only access tokens active (refresh and ID tokens: inactive)
        claims = idp.tokens.verify(token, issuer, typ=ACCESS)
    except InvalidToken:
        return {"active": False}
    if client.client_id not in audiences_of(claims):  # Keycloak: the caller must be an audience
        return {"active": False}
    out = dict(claims)
    out["client_id"] = claims.get("azp")
    if "preferred_username" in claims:
        out["username"] = claims["preferred_username"]
    out["token_type"] = "DPoP" if _bound_jkt(claims) else "Bearer"
    out["active"] = True
    return out
