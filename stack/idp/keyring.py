"""The IdP's signing keys: RS256 keys published in the JWKS, plus an HMAC key for refresh tokens.

Like Keycloak, refresh tokens are signed with a realm-internal HS512 key that is never
published, so no resource server can mistake one for an access token. `rotate()` makes a
new active RSA key; the previous ones stay in the JWKS for `grace` seconds so tokens signed
just before the rotation still verify.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from stack.clock import Clock
from stack.errors import ExplorerError
from stack.jose.keys import SIGNATURE_ONLY, generate_rsa_key, new_kid, public_jwk

SIGNING_ALG = "RS256"
REFRESH_ALG = "HS512"


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    retired_at: float | None = None

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key, kid=self.kid, use="sig", alg=SIGNING_ALG)


class TokenSignatureError(ExplorerError):
    """A token is not well formed, is signed by an unknown key, or its signature is wrong."""


class KeyRing:
    def __init__(self, clock: Clock, grace: float = 3600.0, bits: int = 2048) -> None:
        self._clock = clock
        self._grace = grace
        self._bits = bits
        self._keys: list[SigningKey] = [SigningKey(new_kid(), generate_rsa_key(bits))]
        self._hmac_kid = new_kid()
        self._hmac_secret = os.urandom(64)
        self._jwks_json: bytes | None = None

    @property
    def active(self) -> SigningKey:
        return self._keys[-1]

    def rotate(self) -> str:
        """Make a new active signing key; return its kid. Old keys stay published for `grace` s."""
        now = self._clock.now()
        self.active.retired_at = now
        self._keys = [
            k for k in self._keys if k.retired_at is None or k.retired_at + self._grace > now
        ]
        self._keys.append(SigningKey(new_kid(), generate_rsa_key(self._bits)))
        self._jwks_json = None
        return self.active.kid

    def _prune(self) -> None:
        now = self._clock.now()
        keep = [k for k in self._keys if k.retired_at is None or k.retired_at + self._grace > now]
        if len(keep) != len(self._keys):
            self._keys = keep
            self._jwks_json = None

    def jwks_json(self) -> bytes:
        self._prune()
        if self._jwks_json is None:
            keys = [k.jwk for k in reversed(self._keys)]  # active key first
            self._jwks_json = json.dumps({"keys": keys}, separators=(",", ":")).encode()
        return self._jwks_json

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.active
        return jwt.encode(
            claims, key.private_key, algorithm=SIGNING_ALG, headers={"kid": key.kid, "typ": "JWT"}
        )

    def sign_refresh(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._hmac_secret,
            algorithm=REFRESH_ALG,
            headers={"kid": self._hmac_kid, "typ": "JWT"},
        )

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a token signed by one of our keys. Only the signature is checked here."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenSignatureError(f"malformed token: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        key: Any
        if alg == REFRESH_ALG and kid == self._hmac_kid:
            key = self._hmac_secret
        elif alg == SIGNING_ALG:
            self._prune()
            match = next((k for k in self._keys if k.kid == kid), None)
            if match is None:
                raise TokenSignatureError("token signed by an unknown key")
            key = match.private_key.public_key()
        else:
            raise TokenSignatureError(f"unexpected token algorithm {alg!r}")
        try:
            claims = jwt.decode(token, key=key, algorithms=[alg], options=SIGNATURE_ONLY)
        except jwt.PyJWTError as exc:
            raise TokenSignatureError(f"invalid token: {exc}") from None
        if not isinstance(claims, dict):
            raise TokenSignatureError("token payload is not an object")
        return claims
