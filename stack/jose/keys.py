"""Key pairs and JWKs (the embedded IdP signs with these; DPoP clients prove with them).

pyjwt does the JWK (de)serialisation; this module only adds key generation, the
"public part only" view and base64url helpers that JOSE code needs everywhere.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

#: JWK members that only a private (or symmetric) key has; a public JWK must carry none.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2), as text."""
    return jwt.utils.base64url_encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    return jwt.utils.base64url_decode(text)


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_ec_key(curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    if curve not in curves:
        raise ValueError(f"unsupported curve {curve!r} (use one of {sorted(curves)})")
    return ec.generate_private_key(curves[curve])


def default_alg(key: PrivateKey | PublicKey) -> str:
    """The JWS algorithm that naturally goes with a key: RS256, ES256/384/512 or EdDSA."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return _CURVE_ALG[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise TypeError(f"unsupported key type {type(key).__name__}")


PRIVATE_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


def public_jwk(key: PrivateKey | PublicKey, **extra: Any) -> dict[str, Any]:
    """The public JWK of a key (private members never included), plus `extra` members."""
    public = key.public_key() if isinstance(key, PRIVATE_TYPES) else key
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise TypeError(f"unsupported key type {type(key).__name__}")
    jwk = {k: v for k, v in dict(jwk).items() if k not in PRIVATE_JWK_MEMBERS}
    jwk.update(extra)
    return jwk


def private_jwk(key: PrivateKey) -> dict[str, Any]:
    """The full JWK including private members (for tests and fault injection only)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return dict(RSAAlgorithm.to_jwk(key, as_dict=True))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return dict(ECAlgorithm.to_jwk(key, as_dict=True))
    return dict(OKPAlgorithm.to_jwk(key, as_dict=True))


def new_kid() -> str:
    return uuid.uuid4().hex


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


# pyjwt options for "check the signature only": callers check times and claims themselves
# against their own clock (the explorer's clock can be moved).
SIGNATURE_ONLY: Any = {  # jwt.types.Options
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}
