"""The login form and the error page, shaped like Keycloak 26.7's keycloak.v2 login theme
(login.ftl, error.ftl): the same ids, names and message classes, so one browser reads both.

Every value is HTML-escaped. Responses are never cached or framed (Keycloak's headers).
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

SECURITY_HEADERS = {
    "Cache-Control": "no-store, must-revalidate, max-age=0",
    "Content-Security-Policy": "frame-src 'self'; frame-ancestors 'self'; object-src 'none';",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "none",
}

_PAGE = """<!DOCTYPE html>
<html class="login-pf" lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Sign in to {realm}</title>
</head>
<body id="keycloak-bg" data-page-id="{page_id}">
<div class="pf-v5-c-login"><div class="pf-v5-c-login__container">
    <header id="kc-header"><div id="kc-header-wrapper">{realm}</div></header>
    <main class="pf-v5-c-login__main">
        <h1 id="kc-page-title">{title}</h1>
{body}
    </main>
</div></div>
</body>
</html>
"""

_ALERT = """        <div class="pf-v5-c-alert pf-m-{kind}">
            <span class="pf-v5-c-alert__title kc-feedback-text">{message}</span>
        </div>
"""

_FORM = """        <div id="kc-form"><div id="kc-form-wrapper">
        <form id="kc-form-login" action="{action}" method="post" novalidate="novalidate">
            <label for="username">Username or email</label>
            <input id="username" name="username" value="{username}" type="text"
                autocomplete="username" autofocus aria-invalid="{invalid}"/>
{field_error}            <label for="password">Password</label>
            <input id="password" name="password" value="" type="password"
                autocomplete="current-password" aria-invalid="{invalid}"/>
            <input type="hidden" id="id-hidden-input" name="credentialId" />
            <button class="pf-v5-c-button pf-m-primary pf-m-block" name="login" id="kc-login"
                type="submit">Sign In</button>
        </form>
        </div></div>
"""

_FIELD_ERROR = """            <div id="input-error-container-username">
                <span id="input-error-username"
                    class="pf-m-error kc-feedback-text">{message}</span>
            </div>
"""

_ERROR = """        <div id="kc-error-message">
            <p class="instruction">{message}</p>
        </div>
"""


def login_page(
    realm: str,
    action: str,
    *,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """The login form posting to `action`; `error` is shown under the username field (a
    refused login), `notice` above the form (e.g. an expired action)."""
    body = _ALERT.format(kind="warning", message=escape(notice)) if notice else ""
    body += _FORM.format(
        action=escape(action),
        username=escape(username),
        invalid="true" if error else "",
        field_error=_FIELD_ERROR.format(message=escape(error)) if error else "",
    )
    html = _PAGE.format(
        realm=escape(realm), page_id="login-login", title="Sign in to your account", body=body
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def error_page(realm: str, message: str, status: int = 400) -> HTMLResponse:
    """Keycloak's "We are sorry..." page: the login cannot go on and nothing is redirected."""
    html = _PAGE.format(
        realm=escape(realm),
        page_id="login-error",
        title="We are sorry...",
        body=_ERROR.format(message=escape(message)),
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
