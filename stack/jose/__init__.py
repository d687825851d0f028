"""JOSE helpers shared by the embedded IdP and the pattern presets (keys, DPoP)."""

from .dpop import (
    ALLOWED_ALGS,
    DPoPError,
    access_token_hash,
    create_proof,
    jwk_thumbprint,
    normalize_htu,
    verify_proof,
)
from .keys import (
    b64url_decode,
    b64url_encode,
    default_alg,
    generate_ec_key,
    generate_rsa_key,
    new_kid,
    private_jwk,
    public_jwk,
)
from .numeric_date import InvalidNumericDate, numeric_date
from .replay import ReplayCache, ReplayCacheFull

__all__ = [
    "ALLOWED_ALGS",
    "DPoPError",
    "InvalidNumericDate",
    "ReplayCache",
    "ReplayCacheFull",
    "access_token_hash",
    "b64url_decode",
    "b64url_encode",
    "create_proof",
    "default_alg",
    "generate_ec_key",
    "generate_rsa_key",
    "jwk_thumbprint",
    "new_kid",
    "normalize_htu",
    "numeric_date",
    "private_jwk",
    "public_jwk",
    "verify_proof",
]
