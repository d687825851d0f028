"""Service-side DPoP (RFC 9449 section 4.3, 7): a bound token plus a fresh proof per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from runtime.identity import AuthError, Identity
from runtime.pattern_api import ServiceContext
from runtime.presets.jwt_verify import (
    BOUND_ACCESS_TYPES,
    bearer_from,
    identity_from,
    verify_access_token,
)
from stack.jose import DPoPError, verify_proof


def dpop_bound_jwt(
    *, azp_is_actor: bool = False, issued_to: str | None = None
) -> Callable[[Request, ServiceContext], Awaitable[Identity]]:
    async def get_identity(request: Request, ctx: ServiceContext) -> Identity:
        token = bearer_from(request, scheme="DPoP")
        proofs = request.headers.getlist("dpop")
        if len(proofs) != 1:
            raise AuthError("exactly one DPoP proof header is required", scheme="DPoP",
                            error="invalid_dpop_proof")
        try:
            claims = await verify_access_token(token, ctx, types=BOUND_ACCESS_TYPES,
                                           issued_to=issued_to)
        except AuthError as exc:  # the challenge names the scheme in use (RFC 9449 7.1)
            raise AuthError(exc.reason, scheme="DPoP", error=exc.error,
                            decided_by=exc.decided_by) from None
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not isinstance(jkt, str):
            raise AuthError("token is not bound to a key (no cnf.jkt)", scheme="DPoP")
        try:
            verify_proof(
                proofs[0], htm=request.method, htu=ctx.base_url + request.url.path,
                now=ctx.clock.now(), replay=ctx.replay, access_token=token,
                expected_jkt=jkt,
            )
        except DPoPError as exc:
            raise AuthError(f"DPoP proof rejected: {exc}", scheme="DPoP",
                            error="invalid_dpop_proof") from None
        return identity_from(claims, token, "dpop_jwt", azp_is_actor=azp_is_actor)

    return get_identity
