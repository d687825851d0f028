"""DPoP (RFC 9449): create proofs and verify them per section 4.3.

`verify_proof` performs every check of RFC 9449 section 4.3 and raises `DPoPError` with a
short machine-readable `reason` for the first one that fails. Signatures are checked by
pyjwt with the algorithm pinned to the (allow-listed) `alg` of the proof header. When the
replay cache has no room for the proof's jti it raises `ReplayCacheFull` (a 503, not a 401).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt

from stack.errors import ExplorerError

from .keys import (
    PRIVATE_JWK_MEMBERS,
    SIGNATURE_ONLY,
    PrivateKey,
    b64url_encode,
    canonical_json,
    default_alg,
)
from .keys import public_jwk as _public_jwk
from .numeric_date import InvalidNumericDate, numeric_date
from .replay import ReplayCache, ReplayCacheFull

__all__ = [
    "ALLOWED_ALGS",
    "DPoPError",
    "ReplayCache",
    "ReplayCacheFull",
    "access_token_hash",
    "create_proof",
    "jwk_thumbprint",
    "normalize_htu",
    "verify_proof",
]

DPOP_TYP = "dpop+jwt"
#: Asymmetric algorithms only: `none` and HMAC (HS*) are never accepted.
ALLOWED_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
MAX_PROOF_BYTES = 8 * 1024

_KTY_FOR_ALG = {alg: {"R": "RSA", "P": "RSA", "E": "EC"}[alg[0]] for alg in ALLOWED_ALGS[:-1]}
_KTY_FOR_ALG["EdDSA"] = "OKP"
_CRV_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": "Ed25519"}
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


class DPoPError(ExplorerError):
    """A DPoP proof failed a check; `reason` names which (typ, alg, jwk, signature, ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (base64url) of a JWK's required public members."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise DPoPError("jwk", f"unsupported key type {kty!r}")
    missing = [m for m in members if not isinstance(jwk.get(m), str)]
    if missing:
        raise DPoPError("jwk", f"jwk lacks {', '.join(missing)}")
    digest = hashlib.sha256(canonical_json({m: jwk[m] for m in members})).digest()
    return b64url_encode(digest)


def access_token_hash(access_token: str) -> str:
    """The `ath` claim: base64url(SHA-256(ASCII access token))."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def normalize_htu(url: str) -> str:
    """scheme://host[:port]/path with scheme and host lowercased, default port, query and
    fragment dropped (RFC 9449 section 4.3 step 9 compares URIs this way)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"not an absolute http(s) URL: {url[:100]!r}")
    port = parts.port  # raises ValueError on a bad port
    default = {"http": 80, "https": 443}[scheme]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def create_proof(
    private_key: PrivateKey,
    htm: str,
    htu: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """A DPoP proof JWT for one request. `headers`/`claims` override fields (fault injection)."""
    parts = urlsplit(htu)
    payload: dict[str, Any] = {
        "jti": jti or str(uuid.uuid4()),
        "htm": htm.upper(),
        "htu": parts._replace(query="", fragment="").geturl(),
        "iat": int(time.time() if iat is None else iat),
    }
    if access_token is not None:
        payload["ath"] = access_token_hash(access_token)
    if nonce is not None:
        payload["nonce"] = nonce
    payload.update(claims or {})
    header: dict[str, Any] = {"typ": DPOP_TYP, "jwk": _public_jwk(private_key)}
    header.update(headers or {})
    return jwt.encode(
        payload, private_key, algorithm=alg or default_alg(private_key), headers=header
    )


def _check_header(proof: str) -> tuple[str, dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as exc:
        raise DPoPError("malformed", f"DPoP proof is not a well-formed JWT: {exc}") from None
    if header.get("typ") != DPOP_TYP:
        raise DPoPError("typ", f"DPoP proof typ must be {DPOP_TYP!r}, got {header.get('typ')!r}")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise DPoPError("alg", f"DPoP proof alg {alg!r} is not an allowed asymmetric algorithm")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPError("jwk", "DPoP proof header has no jwk")
    private = sorted(PRIVATE_JWK_MEMBERS & jwk.keys())
    if private:
        raise DPoPError(
            "jwk", f"DPoP proof jwk contains private key material ({', '.join(private)})"
        )
    if jwk.get("kty") != _KTY_FOR_ALG[alg]:
        raise DPoPError("jwk", f"jwk kty {jwk.get('kty')!r} does not match alg {alg}")
    if alg in _CRV_FOR_ALG and jwk.get("crv") != _CRV_FOR_ALG[alg]:
        raise DPoPError("jwk", f"jwk crv {jwk.get('crv')!r} does not match alg {alg}")
    return alg, jwk


def _verified_claims(proof: str, alg: str, jwk: dict[str, Any]) -> dict[str, Any]:
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise DPoPError("jwk", f"DPoP proof jwk is not a usable public key: {exc}") from None
    try:
        return jwt.decode(proof, key=key, algorithms=[alg], options=SIGNATURE_ONLY)
    except jwt.InvalidSignatureError:
        raise DPoPError("signature", "DPoP proof signature is invalid") from None
    except jwt.PyJWTError as exc:
        raise DPoPError("malformed", f"DPoP proof cannot be decoded: {exc}") from None


def _check_times(claims: dict[str, Any], now: float, max_age: float, leeway: float) -> float:
    """The proof's iat, if it is a NumericDate inside [now - max_age - leeway, now + leeway].
    A proof needs no exp or nbf (RFC 9449 4.2); if it carries them, they must hold too."""
    try:
        iat = numeric_date(claims.get("iat"), "iat")
        exp = numeric_date(claims["exp"], "exp") if "exp" in claims else None
        nbf = numeric_date(claims["nbf"], "nbf") if "nbf" in claims else None
    except InvalidNumericDate as exc:
        raise DPoPError("iat", f"DPoP proof {exc}") from None
    if iat > now + leeway:
        raise DPoPError("iat", "DPoP proof iat is in the future")
    if iat < now - max_age - leeway:
        raise DPoPError("iat", f"DPoP proof is older than {max_age:g}s")
    if exp is not None and exp + leeway <= now:
        raise DPoPError("iat", "DPoP proof has expired (exp)")
    if nbf is not None and nbf > now + leeway:
        raise DPoPError("iat", "DPoP proof is not valid yet (nbf)")
    return iat


def verify_proof(
    proof: str,
    *,
    htm: str,
    htu: str,
    now: float,
    replay: ReplayCache,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonce: str | None = None,
    max_age: float = 60,
    leeway: float = 5,
) -> str:
    """Check a DPoP proof per RFC 9449 section 4.3 and return its key's thumbprint (jkt)."""
    if not isinstance(proof, str) or not proof:
        raise DPoPError("missing", "DPoP proof is missing")
    if len(proof) > MAX_PROOF_BYTES:
        raise DPoPError("malformed", f"DPoP proof is larger than {MAX_PROOF_BYTES} bytes")
    alg, jwk = _check_header(proof)
    claims = _verified_claims(proof, alg, jwk)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise DPoPError("jti", "DPoP proof needs a jti string (1-256 chars)")
    if not isinstance(claims.get("htm"), str) or claims["htm"] != htm.upper():
        raise DPoPError("htm", f"DPoP proof htm {claims.get('htm')!r} does not match {htm.upper()}")
    try:
        htu_ok = isinstance(claims.get("htu"), str) and normalize_htu(
            claims["htu"]
        ) == normalize_htu(htu)
    except ValueError:
        htu_ok = False
    if not htu_ok:
        raise DPoPError(
            "htu", f"DPoP proof htu {str(claims.get('htu'))[:200]!r} does not match {htu}"
        )
    if nonce is not None and claims.get("nonce") != nonce:
        raise DPoPError("nonce", "DPoP proof nonce is missing or wrong")
    iat = _check_times(claims, now, max_age, leeway)
    if access_token is not None:
        if claims.get("ath") != access_token_hash(access_token):
            raise DPoPError("ath", "DPoP proof ath does not match the access token")
    elif "ath" in claims:
        raise DPoPError("ath", "DPoP proof carries ath but no access token was presented")
    jkt = jwk_thumbprint(jwk)
    if expected_jkt is not None and jkt != expected_jkt:
        raise DPoPError("jkt", "DPoP proof key does not match the token's cnf.jkt")
    # remembered exactly as long as the iat check above would still pass
    if replay.seen(f"{jkt}:{jti}", now, expires_at=iat + max_age + leeway):
        raise DPoPError("replay", "DPoP proof jti was already used")
    return jkt
