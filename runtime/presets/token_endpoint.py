"""Post a form to the IdP's token endpoint (RFC 6749 section 4, RFC 8693 section 2).

Patterns write the form; this sends it, fails closed on outages and refusals, and caches the
answer (see `token_cache`): an answer is reused for the same form until shortly before it
expires and never past the expiry of the `subject_token` or `actor_token` it was made from.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import httpx

from runtime.identity import AuthError, DependencyError
from runtime.presets.token_cache import IssuedToken, TokenCache
from runtime.tokens import decode_unverified
from stack.clock import Clock

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DEFAULT_LIFETIME = 60.0


class TokenClient(Protocol):
    """Whoever asks the token endpoint: the MCP server's context, or the agent's own."""

    http: httpx.AsyncClient
    token_url: str
    clock: Clock
    timeout: float
    tokens: TokenCache


async def request_token(
    ctx: TokenClient, form: dict[str, str], *, dpop_proof: str | None = None
) -> IssuedToken:
    """The IdP's answer to `form` (cached); with `dpop_proof`, a token bound to its key."""
    key = TokenCache.key(form, bound=dpop_proof is not None)
    cached = ctx.tokens.get(key, ctx.clock.now())
    if cached is not None:
        return cached
    issued = await _post(ctx, form, dpop_proof)
    if dpop_proof is not None and issued.token_type.lower() != "dpop":
        raise AuthError(f"identity provider did not bind the token (token_type "
                        f"{issued.token_type}); refusing to send an unbound token",
                        decided_by="IdP")
    inputs = [form.get("subject_token"), form.get("actor_token")]
    ctx.tokens.put(key, issued, min(_expiry(t) for t in inputs), ctx.clock.now())
    return issued


async def _post(ctx: TokenClient, form: dict[str, str], dpop_proof: str | None) -> IssuedToken:
    """One POST to the token endpoint: the token, or the IdP's refusal (401) or outage (503)."""
    headers = {"DPoP": dpop_proof} if dpop_proof else {}
    try:
        response = await ctx.http.post(ctx.token_url, data=form, headers=headers,
                                       timeout=ctx.timeout)
    except httpx.HTTPError as exc:
        raise DependencyError(f"identity provider unreachable: {type(exc).__name__}",
                              decided_by="IdP") from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500:
        raise DependencyError(f"identity provider answered HTTP {response.status_code}",
                              decided_by="IdP")
    if not isinstance(body, dict):
        body = {}
    token, lifetime = body.get("access_token"), body.get("expires_in", DEFAULT_LIFETIME)
    if response.status_code != 200 or not isinstance(token, str) or not token:
        reason = body.get("error_description") or body.get("error") or response.text[:200]
        raise AuthError(f"identity provider refused: {reason}", decided_by="IdP")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not (
            math.isfinite(lifetime) and lifetime > 0):
        raise DependencyError("identity provider answered an unusable expires_in",
                              decided_by="IdP")
    return IssuedToken(token, str(body.get("token_type", "Bearer")),
                       ctx.clock.now() + float(lifetime))


def _expiry(token: str | None) -> float:
    """Until when an answer made from `token` may be reused: its expiry (no token: no limit;
    an unreadable expiry: not at all)."""
    if token is None:
        return math.inf
    decoded = decode_unverified(token)
    exp = decoded.claims.get("exp") if decoded else None
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return -math.inf
    return float(exp)
