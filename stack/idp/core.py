"""The embedded IdP's state (realm, keys, sessions, pending logins and codes, DPoP replay
cache) and shared steps of every token request: scope resolution, DPoP proof checking and
the token response."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from stack.clock import Clock
from stack.jose.dpop import DPoPError, ReplayCache, ReplayCacheFull, verify_proof

from .errors import OAuthError, invalid_request
from .forms import Form
from .keyring import KeyRing
from .login_sessions import CodeStore, LoginSessionStore
from .realm import Client, ClientScope, Realm
from .registration import ClientRegistry
from .sessions import SessionStore
from .tokens import Grant, TokenIssuer

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
# Keycloak 26.7 (DPoPUtil): proofs live 10 s, with 15 s of allowed clock skew either way.
DPOP_MAX_AGE = 10.0
DPOP_LEEWAY = 15.0
# A proof is accepted for max_age + 2 x leeway seconds after the IdP first could see it, so
# (see stack/jose/replay.py) 50 000 entries hold 50 000 / 40 s = 1 250 proofs per second.
DPOP_WINDOW = DPOP_MAX_AGE + 2 * DPOP_LEEWAY
DPOP_REPLAY_ENTRIES = 50_000
# RFC 9449 section 5 says invalid_dpop_proof; Keycloak 26.7 answers invalid_request (checked
# against the real server), and the embedded IdP answers like Keycloak.
DPOP_ERROR = "invalid_request"
_KEYCLOAK_DPOP_TEXT = {
    "malformed": "DPoP header verification failure",
    "missing": "DPoP proof is missing",
    "htm": "DPoP HTTP method mismatch",
    "htu": "DPoP HTTP URL mismatch",
    "iat": "DPoP proof is not active",
    "replay": "DPoP proof has already been used",
    "signature": "DPoP verification failure: Invalid token signature",
    "jti": "DPoP mandatory claims are missing",
}


log = logging.getLogger("stack.idp")


def replay_cache_full(exc: ReplayCacheFull) -> OAuthError:
    """503 when the DPoP replay cache has no room: accepting the proof unrecorded would
    allow its replay, and it is not the client's fault (so not a 400 or 401)."""
    log.warning("DPoP proof refused: %s; retry in %.0f s", exc, exc.retry_after)
    return OAuthError(
        503,
        "temporarily_unavailable",
        "DPoP replay cache full, try again later",
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
    )


def keycloak_dpop_text(exc: DPoPError) -> str:
    """Keycloak's error_description for a failed proof (our own detail where it has none)."""
    if exc.reason == "jwk" and "private" in exc.detail:
        return "Private key material must not be present in DPoP JWK"
    if exc.reason == "typ":
        value = exc.detail.rsplit(" ", 1)[-1].strip("'")
        return f"Invalid or missing type in DPoP header: {'null' if value == 'None' else value}"
    return _KEYCLOAK_DPOP_TEXT.get(exc.reason, exc.detail)


@dataclass(frozen=True)
class TokenRequest:
    """One POST to the token endpoint, after the client authenticated."""

    form: Form
    client: Client
    issuer: str
    jkt: str | None = None  # thumbprint of the request's valid DPoP proof, if any
    #: why the grant was allowed, for the wire (embedded only; sent as a response header)
    explanation: list[str] = field(default_factory=list)


class IdentityProvider:
    def __init__(self, realm: Realm, clock: Clock) -> None:
        # this IdP's own client list: the realm's, then any registered at run time (RFC 7591)
        self.clients = ClientRegistry(realm.clients)
        self.realm = realm = dataclasses.replace(realm, clients=self.clients)
        self.clock = clock
        self.keys = KeyRing(clock)
        self.sessions = SessionStore(clock, realm.sso_idle_timeout, realm.sso_max_lifespan)
        self.logins = LoginSessionStore(clock, realm.login_lifespan)
        self.codes = CodeStore(clock, realm.access_code_lifespan)
        self.tokens = TokenIssuer(realm, self.keys, clock, self.sessions)
        self.replay = ReplayCache(max_entries=DPOP_REPLAY_ENTRIES, ttl=DPOP_WINDOW)

    def resolve_scopes(
        self, client: Client, scope_param: str | None, within: set[str] | None = None
    ) -> tuple[tuple[ClientScope, ...], bool]:
        """The client scopes a token gets (client defaults + requested optional ones) and
        whether `openid` was asked for. Unknown scopes (or, with `within`, scopes outside that
        set) are refused with Keycloak's `invalid_scope`."""
        requested = (scope_param or "").split()
        bad = [s for s in requested if s != "openid" and s not in client.requestable_scopes]
        if within is not None:  # only scopes that show in a token's `scope` can be compared
            visible = {n for n, sc in self.realm.scopes.items() if sc.include_in_token_scope}
            bad += [s for s in requested if s in visible and s not in within]
        if bad:
            raise OAuthError(400, "invalid_scope", f"Invalid scopes: {scope_param}")
        names = list(client.default_scopes)
        names += [s for s in requested if s in client.optional_scopes and s not in names]
        return tuple(
            self.realm.scopes[n] for n in names if n in self.realm.scopes
        ), "openid" in requested

    def dpop_jkt(self, client: Client, proofs: list[str], endpoint: str) -> str | None:
        """Thumbprint of the request's valid DPoP proof, None without one (RFC 9449 section 5).
        Checked once per token request, before any grant runs (like Keycloak's TokenEndpoint)."""
        if not proofs:
            if client.dpop_required:
                raise invalid_request("DPoP proof is missing")
            return None
        if len(proofs) > 1:
            raise OAuthError(400, DPOP_ERROR, "Multiple DPoP headers are not allowed")
        try:
            return verify_proof(
                proofs[0],
                htm="POST",
                htu=endpoint,
                now=self.clock.now(),
                replay=self.replay,
                max_age=DPOP_MAX_AGE,
                leeway=DPOP_LEEWAY,
            )
        except DPoPError as exc:
            raise OAuthError(400, DPOP_ERROR, keycloak_dpop_text(exc)) from None
        except ReplayCacheFull as exc:
            raise replay_cache_full(exc) from None

    def token_response(
        self, grant: Grant, issuer: str, *, refresh: bool, issued_token_type: str | None = None
    ) -> dict[str, Any]:
        """The JSON body Keycloak answers a successful token request with."""
        access, _claims = self.tokens.access_token(grant, issuer)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.realm.access_token_lifespan,
            "refresh_expires_in": 0,
        }
        if refresh and grant.session is not None:
            # Keycloak binds refresh tokens to the DPoP key for public clients only.
            token, lifetime = self.tokens.refresh_token(grant, issuer, bind=grant.client.public)
            body.update({"refresh_token": token, "refresh_expires_in": lifetime})
        body["token_type"] = "DPoP" if grant.jkt else "Bearer"
        if grant.openid:
            body["id_token"] = self.tokens.id_token(grant, issuer, access)
        body["not-before-policy"] = 0
        if grant.session is not None:
            body["session_state"] = grant.session.id
        body["scope"] = grant.scope
        if issued_token_type:
            body["issued_token_type"] = issued_token_type
        return body
