"""Reading a Keycloak realm export into the typed model of realm.py.

Only what the embedded IdP needs is read; everything else in the file is ignored. A broken
file raises `RealmError` naming the file and the offending entry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stack import REALM_FILE as DEFAULT_REALM_FILE

from .realm import (
    Client,
    ClientScope,
    ProtocolMapper,
    Realm,
    RealmError,
    RegistrationPolicy,
    User,
)

OFFLINE_ACCESS = "offline_access"
REGISTRATION_POLICY = "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"


def _get(
    obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    value = obj.get(key, default)
    if value is None or isinstance(value, kind):
        return default if value is None else value
    raise RealmError(
        f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}"
    )


def _mapper(raw: Any, where: str) -> ProtocolMapper:
    if not isinstance(raw, dict):
        raise RealmError(f"{where}: protocol mapper must be an object")
    name = _get(raw, "name", str, "", where)
    kind = _get(raw, "protocolMapper", str, None, f"{where} mapper {name!r}")
    if not kind:
        raise RealmError(f"{where}: mapper {name!r} has no protocolMapper type")
    config = _get(raw, "config", dict, {}, f"{where} mapper {name!r}")
    return ProtocolMapper(name=name, kind=kind, config={str(k): str(v) for k, v in config.items()})


def _mappers(raw: Mapping[str, Any], where: str) -> tuple[ProtocolMapper, ...]:
    return tuple(_mapper(m, where) for m in _get(raw, "protocolMappers", list, [], where))


def _scope(raw: Any, index: int) -> ClientScope:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise RealmError(f"clientScopes[{index}]: needs a string 'name'")
    where = f"client scope {raw['name']!r}"
    attrs = _get(raw, "attributes", dict, {}, where)
    include = str(attrs.get("include.in.token.scope", "true")).lower() == "true"
    return ClientScope(
        name=raw["name"], include_in_token_scope=include, mappers=_mappers(raw, where)
    )


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _get(raw, key, list, [], where)
    if not all(isinstance(v, str) for v in values):
        raise RealmError(f"{where}: {key!r} must be a list of strings")
    return tuple(values)


def _client(raw: Any, index: int, default_scopes: tuple[str, ...]) -> Client:
    if not isinstance(raw, dict) or not isinstance(raw.get("clientId"), str) or not raw["clientId"]:
        raise RealmError(f"clients[{index}]: needs a non-empty string 'clientId'")
    where = f"client {raw['clientId']!r}"
    attrs = _get(raw, "attributes", dict, {}, where)
    return Client(
        client_id=raw["clientId"],
        enabled=_get(raw, "enabled", bool, True, where),
        public=_get(raw, "publicClient", bool, False, where),
        bearer_only=_get(raw, "bearerOnly", bool, False, where),
        secret=_get(raw, "secret", str, None, where),
        direct_access_grants=_get(raw, "directAccessGrantsEnabled", bool, False, where),
        service_accounts=_get(raw, "serviceAccountsEnabled", bool, False, where),
        attributes={str(k): str(v) for k, v in attrs.items()},
        mappers=_mappers(raw, where),
        default_scopes=_strings(raw, "defaultClientScopes", where)
        if "defaultClientScopes" in raw
        else default_scopes,
        optional_scopes=_strings(raw, "optionalClientScopes", where),
        standard_flow=_get(raw, "standardFlowEnabled", bool, True, where),
        implicit_flow=_get(raw, "implicitFlowEnabled", bool, False, where),
        redirect_uris=_strings(raw, "redirectUris", where),
    )


def _user(raw: Any, index: int) -> User:
    if not isinstance(raw, dict) or not isinstance(raw.get("username"), str) or not raw["username"]:
        raise RealmError(f"users[{index}]: needs a non-empty string 'username'")
    where = f"user {raw['username']!r}"
    attrs = _get(raw, "attributes", dict, {}, where)
    attributes: dict[str, tuple[str, ...]] = {}
    for key, value in attrs.items():
        values = value if isinstance(value, list) else [value]
        attributes[str(key)] = tuple(str(v) for v in values)
    password = None
    for cred in _get(raw, "credentials", list, [], where):
        if (
            isinstance(cred, dict)
            and cred.get("type") == "password"
            and isinstance(cred.get("value"), str)
        ):
            password = cred["value"]
    user_id = _get(raw, "id", str, None, where) or str(
        uuid.uuid5(uuid.NAMESPACE_URL, raw["username"])
    )
    return User(
        id=user_id,
        username=raw["username"].lower(),
        enabled=_get(raw, "enabled", bool, True, where),
        email=_get(raw, "email", str, None, where),
        email_verified=_get(raw, "emailVerified", bool, False, where),
        first_name=_get(raw, "firstName", str, None, where),
        last_name=_get(raw, "lastName", str, None, where),
        attributes=attributes,
        password=password,
        service_account_client=_get(raw, "serviceAccountClientId", str, None, where),
    )


def _registration_policies(data: Mapping[str, Any]) -> tuple[RegistrationPolicy, ...]:
    """The realm's anonymous client registration policies, in file order."""
    components = _get(data, "components", dict, {}, "realm")
    policies = []
    for i, raw in enumerate(_get(components, REGISTRATION_POLICY, list, [], "components")):
        where = f"components[{REGISTRATION_POLICY}][{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("providerId"), str):
            raise RealmError(f"{where}: needs a string 'providerId'")
        if _get(raw, "subType", str, "", where) != "anonymous":
            continue
        config = _get(raw, "config", dict, {}, where)
        values = {}
        for key, value in config.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RealmError(f"{where}: config {key!r} must be a list of strings")
            values[str(key)] = tuple(value)
        name = _get(raw, "name", str, raw["providerId"], where)
        policies.append(RegistrationPolicy(name=name, provider=raw["providerId"], config=values))
    return tuple(policies)


def parse_realm(data: Any) -> Realm:
    """Build a Realm from the parsed JSON of a realm export."""
    if not isinstance(data, dict) or not isinstance(data.get("realm"), str) or not data["realm"]:
        raise RealmError("realm file must be a JSON object with a non-empty string 'realm'")
    scopes = {
        s.name: s
        for s in (_scope(r, i) for i, r in enumerate(_get(data, "clientScopes", list, [], "realm")))
    }
    default_scopes = _strings(data, "defaultDefaultClientScopes", "realm")
    optional_scopes = _strings(data, "defaultOptionalClientScopes", "realm")
    if OFFLINE_ACCESS not in scopes:  # Keycloak creates it on import, as a realm default
        scopes[OFFLINE_ACCESS] = ClientScope(OFFLINE_ACCESS, include_in_token_scope=True,
                                             mappers=())   # optional scope (what DCR gets)
        optional_scopes = tuple(dict.fromkeys((*optional_scopes, OFFLINE_ACCESS)))
    clients: dict[str, Client] = {}
    for i, raw in enumerate(_get(data, "clients", list, [], "realm")):
        client = _client(raw, i, default_scopes)
        if client.client_id in clients:
            raise RealmError(f"clients[{i}]: duplicate clientId {client.client_id!r}")
        clients[client.client_id] = client
    users: dict[str, User] = {}
    for i, raw in enumerate(_get(data, "users", list, [], "realm")):
        user = _user(raw, i)
        if user.username in users:
            raise RealmError(f"users[{i}]: duplicate username {user.username!r}")
        users[user.username] = user
    for client in clients.values():  # Keycloak creates a service-account user for these
        name = f"service-account-{client.client_id}".lower()
        if client.service_accounts and name not in users:
            users[name] = User(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                username=name,
                enabled=True,
                email=None,
                email_verified=False,
                first_name=None,
                last_name=None,
                attributes={},
                password=None,
                service_account_client=client.client_id,
            )
    warnings = [
        f"client {c.client_id!r} refers to unknown client scope {s!r}"
        for c in clients.values()
        for s in (*c.default_scopes, *c.optional_scopes)
        if s not in scopes
    ]
    return Realm(
        name=data["realm"],
        enabled=_get(data, "enabled", bool, True, "realm"),
        access_token_lifespan=_get(data, "accessTokenLifespan", int, 300, "realm"),
        sso_idle_timeout=_get(data, "ssoSessionIdleTimeout", int, 1800, "realm"),
        sso_max_lifespan=_get(data, "ssoSessionMaxLifespan", int, 36000, "realm"),
        login_with_email=_get(data, "loginWithEmailAllowed", bool, True, "realm"),
        clients=clients,
        users=users,
        scopes=scopes,
        warnings=tuple(warnings),
        display_name=_get(data, "displayName", str, None, "realm"),
        access_code_lifespan=_get(data, "accessCodeLifespan", int, 60, "realm"),
        login_lifespan=_get(data, "accessCodeLifespanLogin", int, 1800, "realm"),
        default_default_scopes=default_scopes,
        default_optional_scopes=optional_scopes,
        anonymous_registration=_registration_policies(data),
    )


def load_realm(path: Path | str | None = None) -> Realm:
    """Load and check a realm export file (default: stack/keycloak/realm-agentauth.json)."""
    file = Path(path) if path is not None else DEFAULT_REALM_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RealmError(f"{file}: cannot read realm file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RealmError(f"{file}: realm file is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RealmError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    try:
        return parse_realm(data)
    except RealmError as exc:
        raise RealmError(f"{file}: {exc}") from None
