"""The embedded Keycloak-compatible IdP (realm file: stack/keycloak/realm-agentauth.json).

Users log in at its authorization endpoint and login form (authorization code + PKCE, like
Keycloak 26.7; stack.browser plays the user's browser); the token endpoint serves the code,
client credentials, refresh and token exchange grants.

idp = EmbeddedIdP(clock=clock)
await idp.start()            # -> "http://127.0.0.1:<port>"
idp.issuer                   # base_url + "/realms/agentauth"
idp.rotate_key()             # new kid; the old key stays in the JWKS for a while
await idp.stop()
"""

from stack import REALM_FILE as DEFAULT_REALM_FILE

from .app import build_app
from .core import IdentityProvider
from .realm import Realm, RealmError
from .realm_file import load_realm, parse_realm
from .server import EmbeddedIdP

__all__ = [
    "DEFAULT_REALM_FILE",
    "EmbeddedIdP",
    "IdentityProvider",
    "Realm",
    "RealmError",
    "build_app",
    "load_realm",
    "parse_realm",
]
