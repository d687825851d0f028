"""The authorization request (RFC 6749 section 4.1.1) checked the way Keycloak 26.7 does.

Until the client and its redirect URI are known good, a fault is shown to the user as an
error page and never redirected (RFC 6749 section 4.1.2.1: an open redirector otherwise).
After that, faults go back to the client's redirect URI as `error`, `error_description`,
`state` and `iss` (RFC 9207). Texts are Keycloak's (AuthorizationEndpointChecker,
messages_en.properties), checked against Keycloak 26.7.3 (docs/real-stack.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from stack.errors import ExplorerError

from .errors import OAuthError
from .pkce import PkceRequestError, check_challenge
from .realm import Client, Realm

LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
RESPONSE_TYPES = frozenset({"code", "token", "id_token", "none"})
RESPONSE_MODES = frozenset(
    {"query", "fragment", "form_post", "query.jwt", "fragment.jwt", "form_post.jwt", "jwt"}
)
SERVED_MODES = ("query", "fragment")  # the embedded IdP answers in these two only
INVALID_TARGET = "The requested resource is invalid, missing, unknown, or malformed."
MAX_PARAMS = 64
MAX_VALUE_CHARS = 4096


class AuthorizationPageError(ExplorerError):
    """Refused before the redirect URI is trusted: shown as an error page (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ClientRedirect:
    """Where and how the browser goes back to the client."""

    uri: str
    mode: str  # query or fragment
    state: str | None

    def url(self, pairs: list[tuple[str, str]]) -> str:
        """The redirect URI with `pairs` added (after any query it already has)."""
        if self.mode == "fragment":
            return f"{self.uri}#{urlencode(pairs)}"
        return f"{self.uri}{'&' if urlsplit(self.uri).query else '?'}{urlencode(pairs)}"


class AuthorizationRedirectError(ExplorerError):
    """Refused after the redirect URI was checked: sent back to the client."""

    def __init__(
        self, redirect: ClientRedirect, error: str, description: str | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.redirect = redirect
        self.error = error
        self.description = description

    def location(self, issuer: str) -> str:
        pairs = [("error", self.error)]
        if self.description is not None:
            pairs.append(("error_description", self.description))
        if self.redirect.state is not None:
            pairs.append(("state", self.redirect.state))
        return self.redirect.url([*pairs, ("iss", issuer)])


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request, kept with the login form and then with the code."""

    client: Client
    redirect: ClientRedirect
    redirect_uri_param: str | None  # as sent; the token request must repeat it
    scope: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    resources: tuple[str, ...]
    dpop_jkt: str | None
    prompt: str | None


def is_resource_indicator(value: str) -> bool:
    """RFC 8707 section 2: an absolute URI (RFC 3986 section 4.3) without a fragment."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    scheme_ok = bool(parts.scheme) and parts.scheme[0].isalpha()
    return scheme_ok and "#" not in value and bool(parts.netloc or parts.path)


def narrow_resources(asked: list[str], granted: tuple[str, ...]) -> tuple[str, ...]:
    """The resources of a token request (RFC 8707 section 2.2): each must be a resource
    indicator and, when the grant named resources, one of them; none asked keeps the grant's.
    OAuthError 400 invalid_target otherwise."""
    if any(not is_resource_indicator(r) for r in asked) or (
        granted and not set(asked) <= set(granted)
    ):
        raise OAuthError(400, "invalid_target", INVALID_TARGET)
    return tuple(dict.fromkeys(asked)) or granted


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: str, given: str) -> bool:
    """Exact match, except that a loopback IP redirect URI may use any port (RFC 8252
    section 7.3; Keycloak allows it for 127.0.0.1 and [::1], not for `localhost`)."""
    if given == registered:
        return True
    try:
        reg, got = urlsplit(registered), urlsplit(given)
        reg_host, got_host = reg.hostname or "", got.hostname or ""
        _ = got.port  # a malformed port raises ValueError
    except ValueError:
        return False
    return (
        reg.scheme == got.scheme == "http"
        and reg_host == got_host
        and _is_loopback(reg_host)
        and (reg.path, reg.query, reg.fragment) == (got.path, got.query, got.fragment)
    )


def _redirect_uri(client: Client, given: str | None, openid: bool) -> str:
    if given is None:
        # OAuth 2 lets a client with one registered URI omit it; OpenID Connect does not
        if not openid and len(client.redirect_uris) == 1 and "*" not in client.redirect_uris[0]:
            return client.redirect_uris[0]
        raise AuthorizationPageError("Invalid parameter: redirect_uri")
    if "#" not in given and any(redirect_uri_matches(r, given) for r in client.redirect_uris):
        return given
    raise AuthorizationPageError("Invalid parameter: redirect_uri")


def _client(realm: Realm, client_id: str | None) -> Client:
    if not client_id:
        raise AuthorizationPageError("Invalid Request")
    client = realm.clients.get(client_id)
    if client is None:
        raise AuthorizationPageError("Client not found.")
    if not client.enabled:
        raise AuthorizationPageError("Client disabled.")
    if client.bearer_only:
        raise AuthorizationPageError(
            "Bearer-only applications are not allowed to initiate browser login."
        )
    return client


def parse_authorization_request(realm: Realm, pairs: list[tuple[str, str]]) -> AuthorizationRequest:
    """Check the parameters of a request to /protocol/openid-connect/auth in Keycloak's order."""
    if len(pairs) > MAX_PARAMS or any(len(v) > MAX_VALUE_CHARS for _, v in pairs):
        raise AuthorizationPageError("Invalid Request")
    params: dict[str, str] = {}
    duplicated = False
    for name, value in pairs:
        duplicated = duplicated or name in params
        params.setdefault(name, value)
    get = params.get
    scope = get("scope")
    openid = "openid" in (scope or "").split()
    client = _client(realm, get("client_id"))
    uri = _redirect_uri(client, get("redirect_uri"), openid)

    response_type = get("response_type")
    types = set((response_type or "").split())
    implicit = bool(types & {"token", "id_token"})
    mode = get("response_mode") or ("fragment" if implicit else "query")
    redirect = ClientRedirect(uri, mode if mode in SERVED_MODES else "query", get("state"))

    def refuse(error: str, description: str | None = None) -> AuthorizationRedirectError:
        return AuthorizationRedirectError(redirect, error, description)

    if duplicated:
        raise refuse("invalid_request", "duplicated parameter")
    if response_type is None:
        raise refuse("invalid_request", "Missing parameter: response_type")
    if not types or not types <= RESPONSE_TYPES or ("none" in types and len(types) > 1):
        raise refuse("unsupported_response_type")
    if mode not in RESPONSE_MODES or mode not in SERVED_MODES:
        raise refuse("invalid_request", "Invalid parameter: response_mode")
    if "code" in types and not client.standard_flow:
        raise refuse(
            "unauthorized_client",
            "Client is not allowed to initiate browser login with given response_type. "
            "Standard flow is disabled for the client.",
        )
    if implicit:  # no client of the realm has the implicit flow, and it is not served here
        raise refuse(
            "unauthorized_client",
            "Client is not allowed to initiate browser login with given response_type. "
            "Implicit flow is disabled for the client.",
        )
    if types != {"code"}:
        raise refuse("unsupported_response_type")
    requested = (scope or "").split()
    if any(s != "openid" and s not in client.requestable_scopes for s in requested):
        raise refuse("invalid_scope", f"Invalid scopes: {scope}")
    resource = get("resource")
    if resource is not None and not is_resource_indicator(resource):
        raise refuse("invalid_target", INVALID_TARGET)
    try:
        method = check_challenge(
            client.pkce_method, get("code_challenge"), get("code_challenge_method")
        )
    except PkceRequestError as exc:
        raise refuse("invalid_request", str(exc)) from None
    return AuthorizationRequest(
        client=client,
        redirect=redirect,
        redirect_uri_param=get("redirect_uri"),
        scope=scope,
        nonce=get("nonce"),
        code_challenge=get("code_challenge") if method else None,
        code_challenge_method=method,
        resources=(resource,) if resource is not None else (),
        dpop_jkt=get("dpop_jkt"),
        prompt=get("prompt"),
    )
