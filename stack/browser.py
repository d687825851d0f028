"""The user's browser, played in code, for the authorization code flow.

In that flow a person at a browser logs in at the IdP itself: the client sends the browser
to the IdP's authorization endpoint, the person types their password into the IdP's login
form (never into the client), and the IdP redirects the browser back to the client's
redirect URI with a one-time code. `log_in` is that person and browser. It opens the
authorization URL, fills in and submits the login form, follows the IdP's own redirects and
stops at the redirect to the client, whose parameters it returns; it never follows it.

It reads the login page as a browser would (html.parser: the form that has a password
field, its action and hidden inputs), so it works on the embedded IdP and on the real
Keycloak 26.7 login page alike. Bounded: pages of at most MAX_PAGE_BYTES, at most MAX_STEPS
requests, the password sent once and only to the IdP's own origin with POST.
"""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cached_property
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from stack.errors import ExplorerError

MAX_PAGE_BYTES = 1024 * 1024
MAX_STEPS = 12  # requests in one login: the page, the form post and the IdP's own redirects
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class AuthorizationResponse:
    """The IdP's redirect to the client (RFC 6749 section 4.1.2), read, not followed."""

    code: str
    state: str | None
    iss: str | None  # RFC 9207: the caller compares it with the issuer it expects
    location: str  # the full redirect Location


class LoginFailed(ExplorerError):
    """The login did not produce a code; `reason` says why (wrong password, no login form,
    an error redirect with `error`/`error_description`, an error page, an unreachable IdP)."""

    def __init__(
        self,
        reason: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.error_description = error_description
        self.status = status


async def log_in(
    http: httpx.AsyncClient, authorization_url: str, username: str, password: str
) -> AuthorizationResponse:
    """Play the user's browser: open the IdP's login page at `authorization_url`, fill in and
    submit its login form, and return the redirect's parameters (never following the
    redirect to the client).

    `http` is the caller's client (its transport, timeouts and event hooks are used). Cookies
    live in a jar of this call only: the client's own cookie jar is never sent, so two logins
    never share an IdP session, even through one client. Raises LoginFailed.
    """
    idp = _origin(authorization_url)
    redirect_uri = _query_value(authorization_url, "redirect_uri")
    jar = _CookieJar()
    url, data = authorization_url, None
    submitted = False
    for _ in range(MAX_STEPS):
        page = await _fetch(http, url, data, jar)
        if page.status in REDIRECTS:
            location = urljoin(url, page.headers.get("location", ""))
            if _is_client_redirect(location, redirect_uri, idp):
                return _authorization_response(location)
            if _origin(location) != idp:
                raise LoginFailed(f"the IdP redirected the browser away to {_origin(location)}")
            url, data = location, None  # the IdP's own redirect: a browser GETs it
            continue
        form = _login_form(page.html) if page.is_html else None
        if page.status == 200 and form is not None and not submitted:
            url, data = _fill_in(form, page.url, idp, username, password)
            submitted = True
            continue
        raise _failure(page, form is not None and submitted)
    raise LoginFailed(f"no redirect to the client after {MAX_STEPS} requests")


@dataclass
class _Form:
    action: str | None
    method: str
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, value)

    @property
    def password_field(self) -> str | None:
        return next((n for n, t, _ in self.inputs if t == "password"), None)


class _PageParser(HTMLParser):
    """Forms with their inputs, and the messages of Keycloak's login theme: the feedback
    text of the form (`kc-feedback-text`) and the error page's instruction."""

    MESSAGE_CLASSES = frozenset({"kc-feedback-text", "instruction"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # attribute values arrive unescaped
        self.forms: list[_Form] = []
        self.messages: list[str] = []
        self._form: _Form | None = None
        self._capture: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = _Form(a.get("action"), (a.get("method") or "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind not in ("checkbox", "radio") or "checked" in a:
                self._form.inputs.append((a["name"], kind, a.get("value", "")))
        if self._capture is None and self.MESSAGE_CLASSES & set(a.get("class", "").split()):
            self._capture = (tag, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if self._capture is not None and tag == self._capture[0]:
            text = " ".join("".join(self._capture[1]).split())
            if text:
                self.messages.append(text)
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture[1].append(data)


@dataclass(frozen=True)
class _Page:
    url: str
    status: int
    headers: httpx.Headers
    text: str

    @property
    def is_html(self) -> bool:
        return "html" in self.headers.get("content-type", "")

    @cached_property
    def html(self) -> _PageParser:
        parser = _PageParser()
        parser.feed(self.text)
        parser.close()
        return parser


class _CookieJar:
    """The browser's cookies for the IdP's origin (RFC 6265, the part an IdP login uses:
    name, value, Path, Max-Age, Expires). Like a browser on a loopback origin, it sends
    `Secure` cookies over http too; Keycloak marks its login cookies Secure even on http."""

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str], str] = {}  # (name, path) -> value

    def store(self, url: str, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, value = header.split(";")[0].partition("=")
            attrs = {
                k.strip().lower(): v.strip()
                for k, _, v in (p.partition("=") for p in header.split(";")[1:])
            }
            path = attrs.get("path") or urlsplit(url).path.rsplit("/", 1)[0] or "/"
            key = (name.strip(), path)
            if _expired(attrs):
                self._cookies.pop(key, None)
            elif key[0]:
                self._cookies[key] = value.strip()

    def header(self, url: str) -> str | None:
        path = urlsplit(url).path or "/"
        pairs = [
            f"{name}={value}"
            for (name, cpath), value in self._cookies.items()
            if path == cpath or path.startswith(cpath if cpath.endswith("/") else cpath + "/")
        ]
        return "; ".join(pairs) or None


def _expired(attrs: dict[str, str]) -> bool:
    """A Set-Cookie that deletes the cookie (Max-Age wins over Expires, RFC 6265 5.3)."""
    try:
        if "max-age" in attrs:
            return int(attrs["max-age"]) <= 0
        if "expires" in attrs:
            return parsedate_to_datetime(attrs["expires"]).timestamp() <= time.time()
    except (TypeError, ValueError):
        pass
    return False


async def _fetch(
    http: httpx.AsyncClient, url: str, data: dict[str, str] | None, jar: _CookieJar
) -> _Page:
    method = "GET" if data is None else "POST"
    try:
        request = http.build_request(method, url, data=data)
    except (httpx.InvalidURL, ValueError):
        raise LoginFailed(f"not a URL a browser can open: {url[:200]!r}") from None
    if "cookie" in request.headers:  # the caller's jar: not this browser's
        del request.headers["cookie"]
    cookies = jar.header(url)
    if cookies:
        request.headers["Cookie"] = cookies
    try:
        response = await http.send(request, stream=True, follow_redirects=False)
    except httpx.ProtocolError as exc:  # e.g. a Location header that is no URL
        raise LoginFailed(f"the IdP's answer is malformed: {exc}") from exc
    except httpx.HTTPError as exc:
        raise LoginFailed(f"cannot reach the IdP at {_origin(url)}: "
                          f"{_what_failed(exc)}") from exc
    try:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise LoginFailed(f"the IdP's page is larger than {MAX_PAGE_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise LoginFailed(f"the IdP's answer broke off: {_what_failed(exc)}") from exc
    finally:
        await response.aclose()
    jar.store(url, response)
    text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
    return _Page(url, response.status_code, response.headers, text)


def _login_form(page: _PageParser) -> _Form | None:
    return next((f for f in page.forms if f.password_field is not None), None)


def _fill_in(
    form: _Form, page_url: str, idp: str, username: str, password: str
) -> tuple[str, dict[str, str]]:
    """The form's absolute action and the fields a browser would post."""
    action = urljoin(page_url, form.action or page_url)
    if form.method != "post":
        raise LoginFailed("the login form does not use POST; not sending a password in a URL")
    if _origin(action) != idp:
        raise LoginFailed(f"the login form posts to {_origin(action)}, not to the IdP {idp}")
    names = [n for n, t, _ in form.inputs]
    user_field = (
        "username"
        if "username" in names
        else next((n for n, t, _ in form.inputs if t in ("text", "email")), None)
    )
    if user_field is None:
        raise LoginFailed("the login form has no username field")
    data = {n: v for n, t, v in form.inputs if t not in ("submit", "button", "image", "reset")}
    data[user_field] = username
    data[str(form.password_field)] = password
    return action, data


def _failure(page: _Page, form_again: bool) -> LoginFailed:
    if page.is_html:
        messages = page.html.messages
        message = messages[0] if messages else None
        if form_again:
            reason = f"the IdP refused the login: {message or 'the login form came back'}"
        elif message:
            reason = f"the IdP showed an error page (HTTP {page.status}): {message}"
        elif page.status == 200:
            reason = "the IdP's page has no login form"
        else:
            reason = f"the IdP answered HTTP {page.status}"
        return LoginFailed(reason, status=page.status)
    try:
        body = json.loads(page.text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("error_description")
        text = body["error"] + (f": {detail}" if isinstance(detail, str) else "")
        return LoginFailed(f"the IdP answered HTTP {page.status}: {text}", status=page.status)
    return LoginFailed(f"the IdP answered HTTP {page.status}", status=page.status)


def _authorization_response(location: str) -> AuthorizationResponse:
    parts = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(parts.fragment or parts.query).items()}
    if "error" in params:
        error, detail = params["error"], params.get("error_description")
        reason = f"the IdP redirected back with {error}" + (f": {detail}" if detail else "")
        raise LoginFailed(reason, error=error, error_description=detail)
    if not params.get("code"):
        raise LoginFailed("the IdP redirected back without a code")
    return AuthorizationResponse(
        code=params["code"], state=params.get("state"), iss=params.get("iss"), location=location
    )


def _what_failed(exc: Exception) -> str:
    """What went wrong, in words: a timeout's message is often empty."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: an origin of its own
        return url
    return f"{parts.scheme}://{parts.netloc}".lower()


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def _is_client_redirect(location: str, redirect_uri: str | None, idp: str) -> bool:
    """Is this the redirect to the client? With a redirect_uri in the request: the same
    scheme, host and path (any port on a loopback IP, RFC 8252 section 7.3); without one:
    any redirect off the IdP."""
    if redirect_uri is None:
        return _origin(location) != idp
    try:
        got, want = urlsplit(location), urlsplit(redirect_uri)
        if (got.scheme, got.hostname, got.path) != (want.scheme, want.hostname, want.path):
            return False
        return got.port == want.port or _is_loopback(got.hostname or "")
    except ValueError:  # a port that is not a number, an unclosed IPv6 bracket
        return False


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
