"""The browser's side of the authorization code flow, in Keycloak's URL layout:

GET  /realms/{realm}/protocol/openid-connect/auth        checks the request, shows the form
POST /realms/{realm}/login-actions/authenticate?...      checks the password, redirects with
                                                         `state`, `session_state`, `iss`, `code`
GET  /realms/{realm}/login-actions/authenticate?...      shows the form again (expired action)

The user types a password only here, at the IdP; the client only ever sees the code. Every
message is Keycloak 26.7.3's (docs/real-stack.md). Unlike Keycloak, the embedded IdP keeps
no SSO cookie: every authorization request shows the form.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .authz_request import (
    AuthorizationPageError,
    AuthorizationRedirectError,
    AuthorizationRequest,
    parse_authorization_request,
)
from .forms import read_form
from .login_page import SECURITY_HEADERS, error_page, login_page
from .login_sessions import PendingLogin

if TYPE_CHECKING:
    from .app import IdPApp

AUTH_SESSION_COOKIE = "AUTH_SESSION_ID"
INVALID_CREDENTIALS = "Invalid username or password."
ACCOUNT_DISABLED = "Account is disabled, contact your administrator."
ACTION_EXPIRED = "Action expired. Please continue with login now."
TIMED_OUT = "Your login attempt timed out. Login will start from the beginning."
NO_COOKIE = (
    "Restart login cookie not found. It may have expired; it may have been deleted or cookies "
    "are disabled in your browser. If cookies are disabled then enable them. Click Back to "
    "Application to login again."
)


class LoginFlow:
    def __init__(self, host: IdPApp) -> None:
        self.host = host
        self.execution = str(uuid.uuid4())  # Keycloak's id of the username/password step

    @property
    def _title(self) -> str:
        realm = self.host.idp.realm
        return realm.display_name or realm.name

    def _action(self, iss: str, tab: PendingLogin, *, with_code: bool = True) -> str:
        query = [("session_code", tab.session_code)] if with_code else []
        query += [
            ("execution", self.execution),
            ("client_id", tab.request.client.client_id),
            ("tab_id", tab.tab_id),
        ]
        return f"{iss}/login-actions/authenticate?{urlencode(query)}"

    def _form(self, iss: str, tab: PendingLogin, error: str | None = None) -> Response:
        self.host.idp.logins.renew_code(tab)  # a form's action works once
        notice, tab.notice = tab.notice, None
        return login_page(
            self._title, self._action(iss, tab), username=tab.username, error=error, notice=notice
        )

    def _redirect(self, location: str) -> Response:
        return RedirectResponse(location, status_code=302, headers=SECURITY_HEADERS)

    async def authorize(self, request: Request) -> Response:
        iss = self.host.issuer(request)
        if request.method == "POST":  # OIDC Core 3.1.2.1: the same parameters as a form
            pairs = [
                (k, v) for k, values in (await read_form(request)).fields.items() for v in values
            ]
        else:
            pairs = list(request.query_params.multi_items())
        try:
            authz = parse_authorization_request(self.host.idp.realm, pairs)
        except AuthorizationPageError as exc:
            return error_page(self._title, exc.message)
        except AuthorizationRedirectError as exc:
            return self._redirect(exc.location(iss))
        if authz.prompt == "none":  # no SSO session to reuse without asking
            return self._redirect(
                AuthorizationRedirectError(authz.redirect, "login_required").location(iss)
            )
        root_id, tab = self.host.idp.logins.begin(request.cookies.get(AUTH_SESSION_COOKIE), authz)
        response = self._form(iss, tab)
        response.set_cookie(
            AUTH_SESSION_COOKIE,
            root_id,
            path=self._cookie_path,
            secure=True,
            httponly=True,
            samesite="none",
        )
        return response

    @property
    def _cookie_path(self) -> str:
        return f"/realms/{self.host.idp.realm.name}/"

    def _pending(self, request: Request) -> PendingLogin | Response:
        """The tab the request is about, or the error page Keycloak shows."""
        root_id = request.cookies.get(AUTH_SESSION_COOKIE)
        if not root_id:
            return error_page(self._title, NO_COOKIE)
        query = request.query_params
        tab = self.host.idp.logins.find(root_id, query.get("tab_id"), query.get("client_id"))
        return tab if tab is not None else error_page(self._title, TIMED_OUT)

    async def show_form(self, request: Request) -> Response:
        iss = self.host.issuer(request)
        tab = self._pending(request)
        return tab if isinstance(tab, Response) else self._form(iss, tab)

    async def authenticate(self, request: Request) -> Response:
        iss = self.host.issuer(request)
        tab = self._pending(request)
        if isinstance(tab, Response):
            return tab
        query = request.query_params
        if query.get("execution") != self.execution or not secrets.compare_digest(
            query.get("session_code") or "", tab.session_code
        ):
            tab.notice = ACTION_EXPIRED  # a stale or replayed form: show a fresh one
            return self._redirect(self._action(iss, tab, with_code=False))
        form = await read_form(request)
        username, password = form.get("username") or "", form.get("password")
        tab.username = username
        user = self.host.idp.realm.user_by_login(username) if username else None
        if (
            user is None
            or user.service_account_client
            or password is None
            or not user.check_password(password)
        ):
            return self._form(iss, tab, error=INVALID_CREDENTIALS)
        if not user.enabled:
            return self._form(iss, tab, error=ACCOUNT_DISABLED)
        return self._logged_in(request, iss, tab, user.id)

    def _logged_in(self, request: Request, iss: str, tab: PendingLogin, user_id: str) -> Response:
        idp = self.host.idp
        session = idp.sessions.create(user_id)
        code = idp.codes.issue(tab.request, user_id, session.id)
        root_gone = idp.logins.finish(request.cookies.get(AUTH_SESSION_COOKIE), tab.tab_id)
        response = self._redirect(success_location(tab.request, session.id, iss, code))
        if root_gone:
            response.delete_cookie(
                AUTH_SESSION_COOKIE,
                path=self._cookie_path,
                secure=True,
                httponly=True,
                samesite="none",
            )
        return response


def success_location(request: AuthorizationRequest, session_id: str, iss: str, code: str) -> str:
    """The redirect to the client: Keycloak's parameter order, `iss` per RFC 9207."""
    pairs = [("state", request.redirect.state)] if request.redirect.state is not None else []
    pairs += [("session_state", session_id), ("iss", iss), ("code", code)]
    return request.redirect.url(pairs)
