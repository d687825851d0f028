"""PKCE (RFC 7636) at both ends of the authorization code flow, with Keycloak 26.7's rules
and texts (AuthorizationEndpointChecker and PkceUtils).

A client with the attribute `pkce.code.challenge.method` must send that method and a
challenge; other clients may use PKCE (plain or S256) or not. The token request then must
prove the challenge with the verifier.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from jwt.utils import base64url_encode

from stack.errors import ExplorerError

from .errors import OAuthError

S256, PLAIN = "S256", "plain"
METHODS = (PLAIN, S256)  # what Keycloak's discovery lists, in its order
# RFC 7636 section 4.1 (verifier) and 4.2 (challenge): 43 to 128 unreserved characters
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class PkceRequestError(ExplorerError, ValueError):
    """The authorization request's PKCE parameters are refused (Keycloak's description)."""


def check_challenge(required: str | None, challenge: str | None, method: str | None) -> str | None:
    """The method to store with the code (None when the client uses no PKCE), or
    PkceRequestError. `required` is the client's configured method, if any."""
    if required:
        if method is None:
            raise PkceRequestError("Missing parameter: code_challenge_method")
        if method != required:
            raise PkceRequestError(
                "Invalid parameter: code challenge method is not matching the configured one"
            )
        if challenge is None:
            raise PkceRequestError("Missing parameter: code_challenge")
    else:
        if challenge is None and method is not None:
            raise PkceRequestError("Missing parameter: code_challenge")
        if challenge is None:
            return None
        if method is not None and method not in METHODS:
            raise PkceRequestError("Invalid parameter: code_challenge_method")
        method = method or PLAIN  # RFC 7636 section 4.3
    if not _UNRESERVED.fullmatch(challenge):
        raise PkceRequestError("Invalid parameter: code_challenge")
    return method


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64url_encode(digest).decode("ascii")


def verify_code_verifier(verifier: str | None, challenge: str | None, method: str | None) -> None:
    """Check the token request's `code_verifier` against the code's challenge (RFC 7636
    section 4.6); OAuthError 400 invalid_grant with Keycloak's text when it fails."""
    if method is None:
        if verifier is not None:
            raise _failed("PKCE code verifier specified but challenge not present in authorization")
        return
    if verifier is None:
        raise _failed("PKCE code verifier not specified")
    if not _UNRESERVED.fullmatch(verifier):
        raise _failed("PKCE verification failed: Invalid code verifier")
    expected = s256(verifier) if method == S256 else verifier
    if challenge is None or not secrets.compare_digest(expected, challenge):
        raise _failed("PKCE verification failed: Code mismatch")


def _failed(description: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", description)
