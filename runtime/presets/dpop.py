"""DPoP (RFC 9449): sign a proof at the MCP server, verify one at a service.

A proof is a small JWT signed with the sender's private key, naming the HTTP method and URL
(`htm`, `htu`), when it was made (`iat`), a one-time id (`jti`) and, next to a token, that
token's hash (`ath`). Verification is every check of RFC 9449 section 4.3, in
`stack.jose.verify_proof`; here it is tied to the service's URL, clock and replay cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from runtime.identity import AuthError, DependencyError
from stack.jose import DPoPError, ReplayCacheFull, create_proof, verify_proof

if TYPE_CHECKING:
    from runtime.pattern_api import McpContext, ServiceContext

PROOF_MAX_AGE, PROOF_LEEWAY = 60.0, 5.0   # a service takes a proof up to 60 s old, 5 s skew
#: A proof passes the freshness check for max_age + 2 x leeway seconds (stack/jose/replay.py),
#: so its jti is kept that long, and 10 000 entries hold 10 000 / 70 s = 142 proofs per
#: second at one service: about three times what one runner serves (~50 tool calls/s,
#: docs/performance.md). Past that the service answers 503 rather than forget a live proof.
PROOF_WINDOW = PROOF_MAX_AGE + 2 * PROOF_LEEWAY
REPLAY_ENTRIES = 10_000


def sign_dpop_proof(
    ctx: McpContext, method: str, url: str, *, access_token: str | None = None
) -> str:
    """A fresh proof by the MCP server's key for one request (with `ath` next to a token)."""
    return create_proof(ctx.dpop_key, method, url, access_token=access_token,
                        iat=ctx.clock.now())


def verify_dpop_proof(
    request: Request, ctx: ServiceContext, *, access_token: str, jkt: str
) -> None:
    """Check the request's single `DPoP` proof per RFC 9449 section 4.3 against this
    request, the token and the key the token is bound to (`cnf.jkt`); else a 401."""
    proofs = request.headers.getlist("dpop")
    if len(proofs) != 1:
        raise AuthError("exactly one DPoP proof header is required", scheme="DPoP",
                        error="invalid_dpop_proof")
    try:
        verify_proof(
            proofs[0], htm=request.method, htu=ctx.base_url + request.url.path,
            now=ctx.clock.now(), replay=ctx.replay, access_token=access_token,
            expected_jkt=jkt, max_age=PROOF_MAX_AGE, leeway=PROOF_LEEWAY,
        )
    except DPoPError as exc:
        raise AuthError(f"DPoP proof rejected: {exc}", scheme="DPoP",
                        error="invalid_dpop_proof") from None
    except ReplayCacheFull as exc:   # never forget a live proof to make room: fail closed
        raise DependencyError(f"DPoP {exc}; try again in {exc.retry_after:.0f}s") from None
