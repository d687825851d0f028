"""MCP-side OAuth presets: forward the user's token (05), exchange it (06), delegate (07),
and bind it to a key with DPoP (08).

Exchanged tokens are cached per (subject token, audience) until shortly before they expire,
as a real deployment would; the cache and the DPoP key live in the runner's `McpContext`,
never on the shared handler.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from runtime.identity import AuthError, DependencyError
from runtime.pattern_api import AuthHandler, McpContext, ServiceRequest, ToolCall, ToolRefused
from runtime.tokens import decode_unverified
from stack.jose import create_proof, generate_ec_key

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_type: str
    expires_at: float


def _require_user_token(call: ToolCall) -> str:
    if not call.bearer_token:
        raise ToolRefused("no user token on the MCP request (Authorization: Bearer ...)", 401)
    return call.bearer_token


def _require_token_for_us(token: str, ctx: McpContext) -> None:
    """MCP authorization: accept only tokens issued for this MCP server (`aud`). Without
    this, a token a service received (aud = that service, azp = mcp-server) sent back here
    is re-exchanged by the IdP (the requester is its azp) for another service's audience.
    Only `aud` is read here; the IdP verifies the signature when it exchanges the token
    (and refuses what is not a JWT at all)."""
    decoded = decode_unverified(token)
    if decoded is None:
        return
    aud = decoded.claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if ctx.client_id not in audiences:
        raise ToolRefused(f"the bearer token was not issued for the MCP server (aud "
                          f"{aud!r} lacks {ctx.client_id!r}); refusing to exchange it", 401)


async def request_token(
    ctx: McpContext, form: dict[str, str], *, dpop_proof: str | None = None
) -> IssuedToken:
    """POST to the IdP's token endpoint; IdP refusals and outages fail closed."""
    headers = {"DPoP": dpop_proof} if dpop_proof else {}
    try:
        response = await ctx.http.post(ctx.stack.token_url, data=form, headers=headers,
                                       timeout=ctx.timeout)
    except httpx.HTTPError as exc:
        raise DependencyError(f"identity provider unreachable: {type(exc).__name__}",
                              decided_by="IdP") from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500:
        raise DependencyError(f"identity provider answered HTTP {response.status_code}",
                              decided_by="IdP")
    if response.status_code != 200 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or response.text[:200]
        raise AuthError(f"identity provider refused: {reason}", decided_by="IdP")
    return IssuedToken(
        token=body["access_token"],
        token_type=str(body.get("token_type", "Bearer")),
        expires_at=ctx.clock.now() + float(body.get("expires_in", 60)),
    )


class ForwardUserToken(AuthHandler):
    """Token passthrough: the user's broad token goes to every service unchanged."""

    user_context = "bearer_header"

    async def prepare_request(
        self, call: ToolCall, request: ServiceRequest, ctx: McpContext
    ) -> ServiceRequest:
        return request.with_headers(Authorization=f"Bearer {_require_user_token(call)}")


class ExchangeToken(AuthHandler):
    """RFC 8693 exchange for a token whose audience is the one service being called.

    `delegate=True` adds the agent's own token as `actor_token` (on-behalf-of);
    `dpop=True` binds the exchanged token to a key the MCP server holds (RFC 9449) and signs
    a fresh proof for every service request.
    """

    user_context = "bearer_header"

    def __init__(self, *, delegate: bool = False, dpop: bool = False) -> None:
        self.delegate, self.dpop = delegate, dpop

    async def before_tool_call(self, call: ToolCall, ctx: McpContext) -> None:
        _require_token_for_us(_require_user_token(call), ctx)

    async def prepare_request(
        self, call: ToolCall, request: ServiceRequest, ctx: McpContext
    ) -> ServiceRequest:
        audience = ctx.audiences[call.service]
        issued = await self._exchanged(_require_user_token(call), audience, ctx)
        if not self.dpop:
            return request.with_headers(Authorization=f"Bearer {issued.token}")
        proof = create_proof(_dpop_key(ctx), request.method, request.url,
                             access_token=issued.token, iat=ctx.clock.now())
        return request.with_headers(Authorization=f"DPoP {issued.token}", DPoP=proof)

    async def _exchanged(self, subject: str, audience: str, ctx: McpContext) -> IssuedToken:
        key = ("exchange", hashlib.sha256(subject.encode()).hexdigest(), audience,
               self.delegate, self.dpop)
        cached = ctx.cache.get(key)
        if isinstance(cached, IssuedToken) and cached.expires_at - EXPIRY_MARGIN > ctx.clock.now():
            return cached
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": ctx.client_id,
            "client_secret": ctx.client_secret,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": audience,
        }
        if self.delegate:
            form["actor_token"] = (await _actor_token(ctx)).token
            form["actor_token_type"] = ACCESS_TOKEN_TYPE
        proof = None
        if self.dpop:
            proof = create_proof(_dpop_key(ctx), "POST", ctx.stack.token_url,
                                 iat=ctx.clock.now())
        issued = await request_token(ctx, form, dpop_proof=proof)
        if self.dpop and issued.token_type.lower() != "dpop":
            raise AuthError("identity provider did not bind the token (token_type "
                            f"{issued.token_type}); refusing to send an unbound token",
                            decided_by="IdP")
        ctx.cache[key] = issued
        return issued


async def _actor_token(ctx: McpContext) -> IssuedToken:
    """The agent's own identity (client credentials), cached until near expiry."""
    cached = ctx.cache.get("actor_token")
    if isinstance(cached, IssuedToken) and cached.expires_at - EXPIRY_MARGIN > ctx.clock.now():
        return cached
    issued = await request_token(ctx, {
        "grant_type": "client_credentials",
        "client_id": ctx.actor_client_id,
        "client_secret": ctx.actor_client_secret,
    })
    ctx.cache["actor_token"] = issued
    return issued


def _dpop_key(ctx: McpContext) -> Any:
    """The MCP server's proof-of-possession key: made once per runner, kept in memory."""
    key = ctx.cache.get("dpop_key")
    if key is None:
        key = ctx.cache["dpop_key"] = generate_ec_key()
    return key
