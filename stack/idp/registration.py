"""Dynamic client registration (RFC 7591) at Keycloak's endpoint,
`POST /realms/{realm}/clients-registrations/openid-connect`, for clients of your own such as
the MCP Inspector (the MCP authorization spec: clients and servers SHOULD support it).

Anonymous registration only, judged by the realm file's anonymous client registration
policies as Keycloak 26.7 runs them (`components`, ClientRegistrationPolicy, subType
`anonymous`): `trusted-hosts` (who may register, and where its redirect URIs may point),
`max-clients`, `allowed-client-templates` (which client scopes `scope` may name), and the two
that change nothing here (`scope`: full scope off; `allowed-protocol-mappers`: RFC 7591
metadata carries no mappers). Any other policy in that list (Keycloak's `consent-required`:
the embedded IdP has no consent page) refuses every registration: fail closed. A registered
client gets client scopes as Keycloak gives them (see `register`) and nothing else: no
mappers, no PKCE requirement, no service account, no password grant (Keycloak would register
`password` and `client_credentials` grants; this IdP refuses them, RFC 9700 section 2.4).
It lives as long as the IdP. RFC 7592 (reading or updating a registration) is not offered.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import OAuthError
from .realm import Client, Realm, RegistrationPolicy

MAX_BODY = 64 * 1024
MAX_REDIRECT_URIS = 16
MAX_SCOPES = 32
DEFAULT_MAX_CLIENTS = 200  # Keycloak's MaxClientsClientRegistrationPolicyFactory default
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
#: policies whose effect needs nothing from the embedded IdP (see the module docstring)
NO_EFFECT = frozenset({"scope", "allowed-protocol-mappers"})


class ClientRegistry(Mapping[str, Client]):
    """The realm's clients and, after them, the clients registered at run time."""

    def __init__(self, static: Mapping[str, Client]) -> None:
        self.static = dict(static)
        self.registered: dict[str, Client] = {}

    def __getitem__(self, client_id: str) -> Client:
        if client_id in self.static:
            return self.static[client_id]
        return self.registered[client_id]

    def __iter__(self) -> Iterator[str]:
        yield from self.static
        yield from self.registered

    def __len__(self) -> int:
        return len(self.static) + len(self.registered)

    def add(self, client: Client) -> None:
        self.registered[client.client_id] = client


def metadata_error(description: str) -> OAuthError:
    return OAuthError(400, "invalid_client_metadata", description)


def _policy_refusal(policy: RegistrationPolicy, details: str) -> OAuthError:
    """Keycloak's answer when an anonymous registration policy says no (403)."""
    return OAuthError(
        403,
        "insufficient_scope",
        f"Policy '{policy.name}' rejected request to client-registration service. "
        f"Details: {details}",
    )


def parse_metadata(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or invalid_client_metadata."""
    if len(body) > MAX_BODY:
        raise metadata_error(f"the client metadata is over {MAX_BODY} bytes")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise metadata_error("the client metadata must be a JSON object")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _string_list(data: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise metadata_error(f"{key} must be a list of strings")
    return value


def _string(data: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise metadata_error(f"{key} must be a string")
    return value


def _redirect_uris(data: Mapping[str, Any]) -> list[str]:
    uris = _string_list(data, "redirect_uris", [])
    if not uris:
        raise OAuthError(400, "invalid_redirect_uri", "redirect_uris is required")
    if len(uris) > MAX_REDIRECT_URIS:
        raise OAuthError(400, "invalid_redirect_uri", f"more than {MAX_REDIRECT_URIS} URIs")
    for uri in uris:
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise OAuthError(400, "invalid_redirect_uri", f"not a URI: {uri!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise OAuthError(
                400, "invalid_redirect_uri",
                f"{uri!r}: an http or https URL without a fragment is required",
            )
    return uris


def _sender_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    """Keycloak resolves each trusted host and compares addresses; `localhost` is loopback."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    for name in (n.strip("[]").lower() for n in trusted):
        if name == "localhost" and ip.is_loopback:
            return True
        try:
            if ipaddress.ip_address(name) == ip:
                return True
        except ValueError:
            continue
    return False


def _url_trusted(host: str, trusted: tuple[str, ...]) -> bool:
    """A redirect URI's host is trusted by name (or a `*.domain` entry), as Keycloak checks."""
    host = host.strip("[]").lower()
    names = [n.strip("[]").lower() for n in trusted]
    return any(host == n or (n.startswith("*.") and host.endswith(n[1:])) for n in names)


def check_policies(
    realm: Realm, clients: ClientRegistry, remote_host: str, redirect_uris: list[str],
    scopes: list[str],
) -> None:
    """Run the realm's anonymous registration policies in file order; 403 on the first no."""
    for policy in realm.anonymous_registration:
        if policy.provider == "trusted-hosts":
            trusted = policy.values("trusted-hosts")
            must_match = policy.flag("host-sending-registration-request-must-match", True)
            if must_match and not _sender_trusted(remote_host, trusted):
                raise _policy_refusal(policy, "Host not trusted.")
            if policy.flag("client-uris-must-match", True):
                for uri in redirect_uris:
                    if not _url_trusted(urlsplit(uri).hostname or "", trusted):
                        raise _policy_refusal(
                            policy, "URI doesn't match any trusted host or trusted domain")
        elif policy.provider == "max-clients":
            limit = policy.values("max-clients")
            maximum = int(limit[0]) if limit and limit[0].isdigit() else DEFAULT_MAX_CLIENTS
            if len(clients) >= maximum:
                raise _policy_refusal(
                    policy, f"It's allowed to have max {maximum} clients per realm"
                )
        elif policy.provider == "allowed-client-templates":
            allowed = set(policy.values("allowed-client-scopes"))
            if policy.flag("allow-default-scopes", True):
                allowed |= {*realm.default_default_scopes, *realm.default_optional_scopes}
            if any(s not in allowed for s in scopes):
                raise _policy_refusal(policy, "Not permitted to use specified clientScope")
        elif policy.provider not in NO_EFFECT:
            raise _policy_refusal(
                policy, f"the embedded IdP does not run policy type '{policy.provider}'"
            )


def register(
    realm: Realm, clients: ClientRegistry, body: bytes, remote_host: str, issued_at: int
) -> dict[str, Any]:
    """Register one client from its RFC 7591 metadata; the response body (RFC 7591 3.2.1)."""
    data = parse_metadata(body)
    if data.get("client_id") is not None:
        raise metadata_error("Client Identifier included")
    redirect_uris = _redirect_uris(data)
    auth_method = _string(data, "token_endpoint_auth_method", "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise metadata_error(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    grant_types = _string_list(data, "grant_types", list(GRANT_TYPES))
    if any(g not in GRANT_TYPES for g in grant_types) or "authorization_code" not in grant_types:
        raise metadata_error(
            "the embedded IdP registers clients of the authorization code flow only "
            f"(grant_types within {', '.join(GRANT_TYPES)})"
        )
    if _string_list(data, "response_types", ["code"]) != ["code"]:
        raise metadata_error("response_types must be [\"code\"]")
    name = _string(data, "client_name", None)
    if name is not None and len(name) > 255:
        raise metadata_error("client_name is over 255 characters")
    scope = _string(data, "scope", None)
    scopes = list(dict.fromkeys((scope or "").split()))
    if len(scopes) > MAX_SCOPES:
        raise metadata_error(f"more than {MAX_SCOPES} scopes")
    check_policies(realm, clients, remote_host, redirect_uris, scopes)
    public = auth_method == "none"
    # Keycloak 26.7: with `scope`, the client's optional scopes are those it names and its
    # default ones only the realm defaults a request cannot name (not in the token's
    # `scope`, such as `basic`); without, the realm's default and optional scopes.
    if scope is None:
        default, optional = realm.default_default_scopes, realm.default_optional_scopes
    else:
        default = tuple(
            s for s in realm.default_default_scopes
            if s in realm.scopes and not realm.scopes[s].include_in_token_scope
        )
        optional = tuple(s for s in scopes if s != "openid")
    client = Client(
        client_id=str(uuid.uuid4()),
        enabled=True,
        public=public,
        bearer_only=False,
        secret=None if public else secrets.token_urlsafe(32),
        direct_access_grants=False,
        service_accounts=False,
        attributes={},
        mappers=(),
        default_scopes=default,
        optional_scopes=optional,
        standard_flow=True,
        redirect_uris=tuple(redirect_uris),
    )
    clients.add(client)
    answer: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": auth_method,
        "grant_types": grant_types,
        "response_types": ["code"],
    }
    if client.secret is not None:
        answer |= {"client_secret": client.secret, "client_secret_expires_at": 0}
    if name is not None:
        answer["client_name"] = name
    if optional:
        answer["scope"] = " ".join(optional)
    return answer
