"""HTTP surface of the embedded IdP, in Keycloak's URL layout (`/realms/{realm}/...`)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stack.cors import LoopbackCors
from stack.jose.dpop import ALLOWED_ALGS

from .authz_request import SERVED_MODES
from .code_grant import authorization_code_grant
from .core import TOKEN_EXCHANGE, IdentityProvider, TokenRequest
from .errors import NO_STORE, OAuthError, invalid_request, realm_not_found
from .exchange import EXPLANATION_HEADER, token_exchange_grant
from .forms import authenticate_client, read_body, read_form
from .grants import client_credentials_grant, password_grant, refresh_token_grant
from .login_flow import LoginFlow
from .pkce import METHODS as PKCE_METHODS
from .registration import MAX_BODY as MAX_METADATA
from .registration import register
from .resource import introspect, userinfo

GRANTS: dict[str, Callable[[IdentityProvider, TokenRequest], dict[str, Any]]] = {
    "authorization_code": authorization_code_grant,
    "password": password_grant,
    "client_credentials": client_credentials_grant,
    "refresh_token": refresh_token_grant,
    TOKEN_EXCHANGE: token_exchange_grant,
}
OIDC = "/realms/{realm}/protocol/openid-connect"
JSON_TYPE = "application/json"


class IdPApp:
    """Route handlers bound to one IdentityProvider. `frontend_url` fixes the public base URL
    (and so the issuer); without it the URL is taken from each request, like Keycloak
    without a configured hostname."""

    def __init__(self, idp: IdentityProvider, frontend_url: str | None = None) -> None:
        self.idp = idp
        self.frontend_url = frontend_url

    def base(self, request: Request) -> str:
        return (self.frontend_url or str(request.base_url)).rstrip("/")

    def issuer(self, request: Request) -> str:
        realm = request.path_params.get("realm")
        if realm != self.idp.realm.name or not self.idp.realm.enabled:
            raise realm_not_found()
        return f"{self.base(request)}/realms/{realm}"

    async def discovery(self, request: Request) -> Response:
        iss = self.issuer(request)
        oidc = f"{iss}/protocol/openid-connect"
        # Keycloak always creates (and lists) offline_access; of this realm's clients only
        # those registered at run time (RFC 7591) may ask for it
        scopes = [
            "openid",
            "offline_access",
            *sorted(set(self.idp.realm.scopes) - {"offline_access"}),
        ]
        return JSONResponse(
            {
                "issuer": iss,
                "authorization_endpoint": f"{oidc}/auth",
                "token_endpoint": f"{oidc}/token",
                "introspection_endpoint": f"{oidc}/token/introspect",
                "registration_endpoint": f"{iss}/clients-registrations/openid-connect",
                "userinfo_endpoint": f"{oidc}/userinfo",
                "jwks_uri": f"{oidc}/certs",
                "grant_types_supported": list(GRANTS),
                "response_types_supported": ["code"],
                "response_modes_supported": list(SERVED_MODES),
                "code_challenge_methods_supported": list(PKCE_METHODS),
                "authorization_response_iss_parameter_supported": True,
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": scopes,
                "claims_supported": [
                    "iss",
                    "sub",
                    "aud",
                    "azp",
                    "exp",
                    "iat",
                    "jti",
                    "typ",
                    "sid",
                    "scope",
                    "preferred_username",
                    "email",
                    "email_verified",
                    "given_name",
                    "family_name",
                    "act",
                    "cnf",
                ],
                "dpop_signing_alg_values_supported": list(ALLOWED_ALGS),
            }
        )

    async def certs(self, request: Request) -> Response:
        self.issuer(request)
        return Response(
            self.idp.keys.jwks_json(),
            media_type="application/json",
            headers={"Cache-Control": "no-cache"},
        )

    async def realm_info(self, request: Request) -> Response:
        iss = self.issuer(request)
        der = self.idp.keys.active.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return JSONResponse(
            {
                "realm": self.idp.realm.name,
                "public_key": base64.b64encode(der).decode(),
                "token-service": f"{iss}/protocol/openid-connect",
                "account-service": f"{iss}/account",
                "tokens-not-before": 0,
            }
        )

    async def token(self, request: Request) -> Response:
        iss = self.issuer(request)
        form = await read_form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise invalid_request("Missing form parameter: grant_type")
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        client = authenticate_client(self.idp.realm, form, request.headers.get("authorization"))
        form.check_duplicates()
        endpoint = f"{iss}/protocol/openid-connect/token"
        jkt = self.idp.dpop_jkt(client, request.headers.getlist("dpop"), endpoint)
        req = TokenRequest(form=form, client=client, issuer=iss, jkt=jkt)
        body = handler(self.idp, req)
        headers = dict(NO_STORE)
        if req.explanation:   # embedded only: why a delegation was allowed, on the wire
            headers[EXPLANATION_HEADER] = "; ".join(req.explanation)
        return JSONResponse(body, headers=headers)

    async def register(self, request: Request) -> Response:
        """RFC 7591 dynamic client registration, anonymous only (registration.py)."""
        self.issuer(request)
        if "authorization" in request.headers:
            raise OAuthError(401, "invalid_token", "the embedded IdP registers anonymous "
                             "clients only (no initial access or bearer tokens)")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != JSON_TYPE:
            raise OAuthError(400, "invalid_client_metadata", "send the metadata as "
                             "application/json")
        body = await read_body(request, MAX_METADATA)
        remote = request.client.host if request.client else ""
        answer = register(self.idp.realm, self.idp.clients, body, remote,
                          int(self.idp.clock.now()))
        return JSONResponse(answer, status_code=201, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        iss = self.issuer(request)
        url = f"{iss}/protocol/openid-connect/userinfo"
        return JSONResponse(userinfo(self.idp, request.headers, request.method, url, iss))

    async def introspect(self, request: Request) -> Response:
        iss = self.issuer(request)
        form = await read_form(request)
        try:
            client = authenticate_client(self.idp.realm, form, request.headers.get("authorization"))
        except OAuthError as exc:
            if exc.status != 401:
                raise
            raise OAuthError(401, "invalid_client", "Client authentication failed.") from None
        form.check_duplicates(frozenset())
        return JSONResponse(introspect(self.idp, client, form, iss))


async def _oauth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # Keycloak (RESTEasy) answers e.g. {"error": "HTTP 404 Not Found"}
    body = {"error": f"HTTP {exc.status_code} {HTTPStatus(exc.status_code).phrase}"}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _server_error(_request: Request, _exc: Exception) -> Response:
    return JSONResponse(
        {"error": "server_error", "error_description": "Internal error"}, status_code=500
    )


def build_app(idp: IdentityProvider, frontend_url: str | None = None) -> Starlette:
    """The IdP as an ASGI app (serve it with AsgiServer, or test it with httpx.ASGITransport)."""
    h = IdPApp(idp, frontend_url)
    login = LoginFlow(h)

    def route(
        path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]
    ) -> Route:
        return Route(path, endpoint, methods=methods)

    app = Starlette(
        routes=[
            route("/realms/{realm}", h.realm_info, ["GET"]),
            route("/realms/{realm}/.well-known/openid-configuration", h.discovery, ["GET"]),
            # RFC 8414 metadata: Keycloak 26.7 serves the same document at both of these
            route("/realms/{realm}/.well-known/oauth-authorization-server", h.discovery, ["GET"]),
            route("/.well-known/oauth-authorization-server/realms/{realm}", h.discovery, ["GET"]),
            route(f"{OIDC}/auth", login.authorize, ["GET", "POST"]),
            route("/realms/{realm}/login-actions/authenticate", login.show_form, ["GET"]),
            route("/realms/{realm}/login-actions/authenticate", login.authenticate, ["POST"]),
            route(f"{OIDC}/certs", h.certs, ["GET"]),
            route(f"{OIDC}/token", h.token, ["POST"]),
            route(f"{OIDC}/token/introspect", h.introspect, ["POST"]),
            route(f"{OIDC}/userinfo", h.userinfo, ["GET", "POST"]),
            route("/realms/{realm}/clients-registrations/openid-connect", h.register, ["POST"]),
        ],
        # the Inspector's UI discovers, registers and redeems its code from the page
        middleware=[Middleware(LoopbackCors, methods=["GET", "POST"])],
        exception_handlers={
            OAuthError: _oauth_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.idp_app = h
    return app
