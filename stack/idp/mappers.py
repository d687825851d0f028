"""Keycloak OIDC protocol mappers, applied from the realm file (never hard-coded claims).

Supported mapper types: user attribute, user property, audience, sub, full name and
hard-coded claim. Other types are skipped (the realm loader lists them as warnings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .realm import ProtocolMapper, Realm, User

SUPPORTED = frozenset(
    {
        "oidc-usermodel-attribute-mapper",
        "oidc-usermodel-property-mapper",
        "oidc-audience-mapper",
        "oidc-sub-mapper",
        "oidc-full-name-mapper",
        "oidc-hardcoded-claim-mapper",
    }
)
# Which config switch puts a mapper's claim into which token.
TOKEN_SWITCH = {
    "access": "access.token.claim",
    "id": "id.token.claim",
    "userinfo": "userinfo.token.claim",
    "introspection": "introspection.token.claim",
}
_DOT = re.compile(r"(?<!\\)\.")


@dataclass
class Mapped:
    claims: dict[str, Any] = field(default_factory=dict)
    audiences: list[str] = field(default_factory=list)


def _convert(value: str, json_type: str | None) -> Any:
    kind = (json_type or "String").lower()
    if kind == "boolean":
        return value.strip().lower() == "true"
    if kind in ("int", "long"):
        return int(value)
    if kind == "json":
        return json.loads(value)
    return value


def _set_claim(claims: dict[str, Any], name: str, value: Any) -> None:
    parts = [p.replace("\\.", ".") for p in _DOT.split(name)]
    target = claims
    for part in parts[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[parts[-1]] = value


def _user_values(mapper: ProtocolMapper, user: User) -> Any:
    values = user.values(mapper.config.get("user.attribute", ""))
    if not values:
        return None
    json_type = mapper.config.get("jsonType.label")
    try:
        converted = [_convert(v, json_type) for v in values]
    except ValueError:  # a bad int/JSON value: Keycloak drops the claim too
        return None
    return converted if mapper.flag("multivalued") else converted[0]


def _apply_one(
    mapper: ProtocolMapper, user: User, realm: Realm, out: Mapped, audience_filter: set[str] | None
) -> None:
    cfg = mapper.config
    if mapper.kind == "oidc-audience-mapper":
        aud = cfg.get("included.client.audience") or cfg.get("included.custom.audience")
        if cfg.get("included.client.audience") and aud not in realm.clients:
            return
        if aud and (audience_filter is None or aud in audience_filter) and aud not in out.audiences:
            out.audiences.append(aud)
        return
    if mapper.kind == "oidc-sub-mapper":
        out.claims["sub"] = user.id
        return
    value: Any
    if mapper.kind in ("oidc-usermodel-attribute-mapper", "oidc-usermodel-property-mapper"):
        value = _user_values(mapper, user)
    elif mapper.kind == "oidc-full-name-mapper":
        value = " ".join(p for p in (user.first_name, user.last_name) if p) or None
        cfg = {**cfg, "claim.name": "name"}
    elif mapper.kind == "oidc-hardcoded-claim-mapper":
        try:
            value = _convert(cfg.get("claim.value", ""), cfg.get("jsonType.label"))
        except ValueError:
            value = None
    else:
        return
    name = cfg.get("claim.name")
    if value is not None and name:
        _set_claim(out.claims, name, value)


def apply_mappers(
    mappers: Iterable[ProtocolMapper],
    user: User,
    realm: Realm,
    *,
    token: str,
    audience_filter: set[str] | None = None,
) -> Mapped:
    """Claims and audiences that `mappers` put into a token of kind `token`
    (access, id, userinfo or introspection). `audience_filter` keeps only those audiences
    (token exchange with `audience=`)."""
    switch = TOKEN_SWITCH[token]
    out = Mapped()
    for mapper in mappers:
        default = mapper.kind == "oidc-sub-mapper"
        if mapper.kind in SUPPORTED and mapper.flag(switch, default=default):
            _apply_one(mapper, user, realm, out, audience_filter)
    return out


def unsupported_mappers(realm: Realm) -> list[str]:
    """Names of mappers in the realm that the embedded IdP does not implement."""
    found = [m for s in realm.scopes.values() for m in s.mappers]
    found += [m for c in realm.clients.values() for m in c.mappers]
    return sorted({f"{m.name} ({m.kind})" for m in found if m.kind not in SUPPORTED})
