"""The authorization_code grant (RFC 6749 section 4.1.3) with PKCE (RFC 7636), in the order
and with the texts of Keycloak 26.7's AuthorizationCodeGrantType.

The code is spent by the first attempt, whatever its outcome; presenting it again ends the
session it created, so tokens already issued with it stop working. The tokens are those of
the login's session: access token (`sid`, jti `onrtac:`), refresh token, ID token with
`nonce` when `openid` was asked for. Embedded-only (Keycloak 26.7 ignores it): RFC 8707
`resource` adds the resource to the access token's `aud`.
"""

from __future__ import annotations

from typing import Any

from .authz_request import narrow_resources
from .core import IdentityProvider, TokenRequest
from .errors import OAuthError, invalid_request
from .login_sessions import CodeNotValid, IssuedCode
from .pkce import verify_code_verifier
from .tokens import Grant


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", description)


def _check_dpop_jkt(req: TokenRequest, issued: IssuedCode) -> None:
    """RFC 9449 section 10: a code asked for with `dpop_jkt` needs a proof by that key."""
    wanted = issued.request.dpop_jkt
    if wanted is None:
        return
    if req.jkt is None:
        raise invalid_request("DPoP Proof missing")
    if req.jkt != wanted:
        raise invalid_request("DPoP Proof public key thumbprint does not match dpop_jkt")


def authorization_code_grant(idp: IdentityProvider, req: TokenRequest) -> dict[str, Any]:
    client, form = req.client, req.form
    code = form.get("code")
    if code is None:
        raise invalid_request("Missing parameter: code")
    try:
        issued = idp.codes.redeem(code)
    except CodeNotValid as exc:
        if exc.reused_session is not None:
            idp.sessions.end(exc.reused_session)  # revoke what the first use issued
        raise _invalid_grant("Code not valid") from None
    session = idp.sessions.active(issued.session_id)
    if session is None:
        raise _invalid_grant("User session not found")
    user = idp.realm.user_by_id(issued.user_id)
    if user is None:
        raise _invalid_grant("User not found")
    if not user.enabled:
        raise _invalid_grant("User disabled")
    saved = issued.request.redirect_uri_param
    if saved is not None and saved != form.get("redirect_uri"):
        raise _invalid_grant("Incorrect redirect_uri")
    if issued.request.client.client_id != client.client_id:
        raise _invalid_grant("Auth error: Found different client_id in clientSession")
    if not client.standard_flow:
        raise _invalid_grant("Client not allowed to exchange code")
    verify_code_verifier(
        form.get("code_verifier"),
        issued.request.code_challenge,
        issued.request.code_challenge_method,
    )
    _check_dpop_jkt(req, issued)
    resources = narrow_resources(form.all("resource"), issued.request.resources)
    scopes, openid = idp.resolve_scopes(client, issued.request.scope)
    grant = Grant(
        "authorization_code",
        client,
        user,
        scopes,
        openid=openid,
        session=session,
        jkt=req.jkt,
        nonce=issued.request.nonce,
        resources=resources,
    )
    return idp.token_response(grant, req.issuer, refresh=True)
