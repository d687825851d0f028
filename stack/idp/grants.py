"""The password, client_credentials and refresh_token grants, with Keycloak's refusals."""

from __future__ import annotations

from typing import Any

from .authz_request import narrow_resources
from .core import IdentityProvider, TokenRequest
from .errors import OAuthError, invalid_request
from .tokens import REFRESH, Grant, InvalidToken

INVALID_CREDENTIALS = "Invalid user credentials"


def password_grant(idp: IdentityProvider, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    if not client.direct_access_grants:
        raise OAuthError(400, "unauthorized_client", "Client not allowed for direct access grants")
    username, password = req.form.get("username"), req.form.get("password")
    if not username:
        raise OAuthError(401, "invalid_request", "Missing parameter: username")
    scopes, openid = idp.resolve_scopes(client, req.form.get("scope"))
    jkt = req.jkt
    user = idp.realm.user_by_login(username)
    if (
        user is None
        or user.service_account_client
        or password is None
        or not user.check_password(password)
    ):
        raise OAuthError(400, "invalid_grant", INVALID_CREDENTIALS)  # 400 in Keycloak 26.7
    if not user.enabled:
        raise OAuthError(400, "invalid_grant", "Account disabled")
    session = idp.sessions.create(user.id)
    grant = Grant("password", client, user, scopes, openid=openid, session=session, jkt=jkt)
    return idp.token_response(grant, req.issuer, refresh=True)


def client_credentials_grant(idp: IdentityProvider, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    if client.public:
        raise OAuthError(
            401, "unauthorized_client", "Public client not allowed to retrieve service account"
        )
    if not client.service_accounts:
        raise OAuthError(
            400, "unauthorized_client", "Client not enabled to retrieve service account"
        )
    user = idp.realm.service_account(client.client_id)
    if user is None or not user.enabled:
        raise OAuthError(400, "invalid_request", "Service account user is missing or disabled")
    scopes, openid = idp.resolve_scopes(client, req.form.get("scope"))
    jkt = req.jkt
    # Keycloak 26: a transient session, so no sid, no session_state and no refresh token.
    grant = Grant("client_credentials", client, user, scopes, openid=openid, jkt=jkt)
    return idp.token_response(grant, req.issuer, refresh=False)


def refresh_token_grant(idp: IdentityProvider, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    token = req.form.get("refresh_token")
    if not token:
        raise invalid_request("No refresh token")
    try:
        claims = idp.tokens.verify(token, req.issuer, typ=REFRESH)
    except InvalidToken as exc:
        description = "Session not active" if exc.code == "session" else "Invalid refresh token"
        raise OAuthError(400, "invalid_grant", description) from None
    if claims.get("azp") != client.client_id:
        raise OAuthError(
            400,
            "invalid_grant",
            "Invalid refresh token. Token client and authorized client don't match",
        )
    session = idp.sessions.active(str(claims.get("sid")))
    user = idp.tokens.subject(claims)
    if session is None or user is None:
        raise OAuthError(400, "invalid_grant", "Session not active")
    jkt = req.jkt
    bound = claims.get("cnf", {}).get("jkt") if isinstance(claims.get("cnf"), dict) else None
    if bound is not None and jkt is None:
        raise OAuthError(400, "invalid_grant", "DPoP proof is missing")
    if bound is not None and jkt != bound:
        raise OAuthError(400, "invalid_grant", "DPoP confirmation doesn't match DPoP proof")
    kept = claims.get("resource")
    resources = narrow_resources(
        req.form.all("resource"),
        tuple(r for r in kept if isinstance(r, str)) if isinstance(kept, list) else (),
    )
    granted = str(claims.get("scope", "")).split()
    scopes, openid = idp.resolve_scopes(
        client, " ".join(s for s in granted if s in client.optional_scopes or s == "openid") or None
    )
    idp.sessions.touch(session)
    grant = Grant(
        "refresh_token",
        client,
        user,
        scopes,
        openid=openid,
        session=session,
        jkt=jkt,
        resources=resources,
    )
    return idp.token_response(grant, req.issuer, refresh=True)
