"""The identity and policy stack: realm file, Rego policies, the embedded IdP and OPA."""

from pathlib import Path

#: The realm both stacks import: the embedded IdP reads it, Keycloak imports it.
REALM_FILE = Path(__file__).resolve().parent / "keycloak" / "realm-agentauth.json"
