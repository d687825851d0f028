"""The realm model: users, clients, client scopes and mappers of a Keycloak realm export
(the same file `kc.sh --import-realm` reads). realm_file.py loads it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from stack.errors import ExplorerError


class RealmError(ExplorerError, ValueError):
    """The realm file is missing, not JSON, or has an entry of the wrong shape."""


@dataclass(frozen=True)
class ProtocolMapper:
    name: str
    kind: str  # Keycloak's `protocolMapper` id, e.g. oidc-audience-mapper
    config: Mapping[str, str]

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.config.get(key)
        return default if value is None else str(value).lower() == "true"


@dataclass(frozen=True)
class ClientScope:
    name: str
    include_in_token_scope: bool
    mappers: tuple[ProtocolMapper, ...]


@dataclass(frozen=True)
class Client:
    client_id: str
    enabled: bool
    public: bool
    bearer_only: bool
    secret: str | None
    direct_access_grants: bool
    service_accounts: bool
    attributes: Mapping[str, str]
    mappers: tuple[ProtocolMapper, ...]
    default_scopes: tuple[str, ...]
    optional_scopes: tuple[str, ...]
    standard_flow: bool = False
    implicit_flow: bool = False
    redirect_uris: tuple[str, ...] = ()

    @property
    def standard_token_exchange(self) -> bool:
        return self.attributes.get("standard.token.exchange.enabled", "false").lower() == "true"

    @property
    def requestable_scopes(self) -> set[str]:
        """Client scopes a request may name: the client's default and optional ones."""
        return set(self.default_scopes) | set(self.optional_scopes)

    @property
    def pkce_method(self) -> str | None:
        """The PKCE method the client must use (`pkce.code.challenge.method`), None when PKCE
        is optional for it."""
        return self.attributes.get("pkce.code.challenge.method") or None

    @property
    def dpop_required(self) -> bool:
        return self.attributes.get("dpop.bound.access.tokens", "false").lower() == "true"

    def check_secret(self, secret: str) -> bool:
        return self.secret is not None and hmac.compare_digest(
            self.secret.encode(), secret.encode("utf-8", "replace")
        )


@dataclass(frozen=True)
class User:
    id: str
    username: str
    enabled: bool
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None
    attributes: Mapping[str, tuple[str, ...]]
    password: str | None
    service_account_client: str | None = None

    def check_password(self, password: str) -> bool:
        return self.password is not None and hmac.compare_digest(
            self.password.encode(), password.encode("utf-8", "replace")
        )

    def values(self, name: str) -> tuple[str, ...]:
        """A user attribute like Keycloak's user model sees it (built-ins included)."""
        builtin = {
            "username": self.username,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "id": self.id,
        }
        if name in builtin:
            value = builtin[name]
            return () if value is None else (value,)
        if name == "emailVerified":
            return ("true" if self.email_verified else "false",)
        return self.attributes.get(name, ())


@dataclass(frozen=True)
class RegistrationPolicy:
    """One client registration policy of the realm (a Keycloak `ClientRegistrationPolicy`
    component), e.g. provider `trusted-hosts` with config `trusted-hosts: [127.0.0.1]`."""

    name: str
    provider: str
    config: Mapping[str, tuple[str, ...]]

    def values(self, key: str) -> tuple[str, ...]:
        return self.config.get(key, ())

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key)
        return default if not value else value[0].lower() == "true"


@dataclass(frozen=True)
class Realm:
    name: str
    enabled: bool
    access_token_lifespan: int
    sso_idle_timeout: int
    sso_max_lifespan: int
    login_with_email: bool
    clients: Mapping[str, Client]
    users: Mapping[str, User]  # by lowercase username
    scopes: Mapping[str, ClientScope]
    warnings: tuple[str, ...] = field(default=())
    display_name: str | None = None
    access_code_lifespan: int = 60  # an authorization code lives this long (Keycloak's default)
    login_lifespan: int = 1800  # a login form waits this long (accessCodeLifespanLogin)
    #: what a client registered at run time gets (defaultDefaultClientScopes and
    #: defaultOptionalClientScopes) and the policies an anonymous registration must pass
    default_default_scopes: tuple[str, ...] = ()
    default_optional_scopes: tuple[str, ...] = ()
    anonymous_registration: tuple[RegistrationPolicy, ...] = ()

    def user_by_login(self, login: str) -> User | None:
        user = self.users.get(login.lower())
        if user is None and self.login_with_email:
            user = next(
                (u for u in self.users.values() if u.email and u.email.lower() == login.lower()),
                None,
            )
        return user

    def user_by_id(self, user_id: str) -> User | None:
        return next((u for u in self.users.values() if u.id == user_id), None)

    def service_account(self, client_id: str) -> User | None:
        return next((u for u in self.users.values() if u.service_account_client == client_id), None)
