"""Building blocks the patterns share, each written once.

A pattern file reads like a sentence: `get_identity = presets.verified_jwt()`.
"""

from runtime.presets.api_keys import (
    SharedKey,
    UserKeyArgument,
    shared_key_identity,
    user_key_identity,
)
from runtime.presets.dpop_verify import dpop_bound_jwt
from runtime.presets.jwt_verify import verified_jwt, verify_access_token
from runtime.presets.oauth import ExchangeToken, ForwardUserToken
from runtime.presets.opa import opa_policy
from runtime.presets.simple import allow_all, anonymous, service_rbac

__all__ = [
    "ExchangeToken",
    "ForwardUserToken",
    "SharedKey",
    "UserKeyArgument",
    "allow_all",
    "anonymous",
    "dpop_bound_jwt",
    "opa_policy",
    "service_rbac",
    "shared_key_identity",
    "user_key_identity",
    "verified_jwt",
    "verify_access_token",
]
