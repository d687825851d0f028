"""Mechanisms the patterns share, each written once and small enough to read.

What differs between patterns (which header, which token request, which claims, which
policy) is written in the pattern's own files; these are the parts that are the same
everywhere. The explorer's code view opens any of them from the pattern that calls it.
"""

from runtime.presets.api_keys import (
    API_KEY_HEADER,
    owner_of_api_key,
    presented_api_key,
    same_secret,
)
from runtime.presets.dpop import sign_dpop_proof, verify_dpop_proof
from runtime.presets.jwt_verify import (
    actor_from,
    authorization_token,
    lookup_person,
    prior_actors_from,
    verify_access_token,
)
from runtime.presets.opa import ask_opa, ask_opa_filter
from runtime.presets.token_endpoint import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, request_token

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "API_KEY_HEADER",
    "TOKEN_EXCHANGE",
    "actor_from",
    "ask_opa",
    "ask_opa_filter",
    "authorization_token",
    "lookup_person",
    "owner_of_api_key",
    "presented_api_key",
    "prior_actors_from",
    "request_token",
    "same_secret",
    "sign_dpop_proof",
    "verify_access_token",
    "verify_dpop_proof",
]
