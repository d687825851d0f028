"""The realm export (stack/keycloak/realm-agentauth.json) matches docs/contracts.md.

The same file is imported by the real Keycloak (--import-realm) and read by the embedded IdP,
so these checks need neither: they read the JSON only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REALM_FILE = ROOT / "stack" / "keycloak" / "realm-agentauth.json"
VERSIONS_FILE = ROOT / "stack" / "versions.env"

USERS = {
    # username: (id, role, department, reports_to)
    "alice": ("8a1f6c1e-0000-4000-8000-00000000a11c", "admin", "engineering", "bob"),
    "bob": ("8a1f6c1e-0000-4000-8000-000000000b0b", "user", "engineering", None),
    "dave": ("8a1f6c1e-0000-4000-8000-00000000da7e", "readonly", "platform", None),
}
AGENT_SERVICE_ACCOUNT_ID = "8a1f6c1e-0000-4000-8000-0000000a9e17"
CUSTOM_ATTRIBUTES = ("role", "department", "reports_to")
TOOL_AUDIENCES = {"records-service", "directory-service", "knowledge-service"}


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data = json.loads(REALM_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _users(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in realm["users"]}


def _clients(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["clientId"]: c for c in realm["clients"]}


def _scopes(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in realm["clientScopes"]}


def _mappers(
    realm: dict[str, Any], client_id: str, requested: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The protocol mappers that apply to a client's tokens: its own, its default scopes' and
    those of the optional scopes `requested` (the `scope` parameter)."""
    client = _clients(realm)[client_id]
    scopes = _scopes(realm)
    found = list(client.get("protocolMappers", []))
    optional = [s for s in requested if s in client.get("optionalClientScopes", [])]
    for name in [*client.get("defaultClientScopes", []), *optional]:
        found.extend(scopes[name].get("protocolMappers", []))
    return found


def _audiences(realm: dict[str, Any], client_id: str, requested: tuple[str, ...] = ()) -> set[str]:
    return {
        m["config"]["included.client.audience"]
        for m in _mappers(realm, client_id, requested)
        if m["protocolMapper"] == "oidc-audience-mapper"
        and m["config"].get("access.token.claim") == "true"
    }


def _user_profile(realm: dict[str, Any]) -> dict[str, Any]:
    providers = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    (declarative,) = [p for p in providers if p["providerId"] == "declarative-user-profile"]
    (raw,) = declarative["config"]["kc.user.profile.config"]
    profile = json.loads(raw)
    assert isinstance(profile, dict)
    return profile


def test_realm_basics(realm: dict[str, Any]) -> None:
    assert realm["realm"] == "agentauth"
    assert realm["enabled"] is True
    assert realm["accessTokenLifespan"] == 300
    assert realm["sslRequired"] == "none"


@pytest.mark.parametrize("username", sorted(USERS))
def test_user(realm: dict[str, Any], username: str) -> None:
    uid, role, department, reports_to = USERS[username]
    user = _users(realm)[username]
    assert user["id"] == uid
    assert user["enabled"] is True
    assert user["emailVerified"] is True
    assert user["email"] and user["firstName"] and user["lastName"]
    assert user["credentials"] == [
        {"type": "password", "value": f"{username}-pass", "temporary": False}
    ]
    assert not user.get("requiredActions")
    attrs = user["attributes"]
    assert attrs["role"] == [role]
    assert attrs["department"] == [department]
    if reports_to is None:
        assert "reports_to" not in attrs
    else:
        assert attrs["reports_to"] == [reports_to]
    assert set(attrs) <= set(CUSTOM_ATTRIBUTES)


def test_agent_service_account_user(realm: dict[str, Any]) -> None:
    sa = _users(realm)["service-account-agent"]
    assert sa["id"] == AGENT_SERVICE_ACCOUNT_ID
    assert sa["serviceAccountClientId"] == "agent"
    assert sa["enabled"] is True
    assert "credentials" not in sa


def test_user_ids_and_names_unique(realm: dict[str, Any]) -> None:
    ids = [u["id"] for u in realm["users"]]
    names = [u["username"] for u in realm["users"]]
    assert len(ids) == len(set(ids)) and len(names) == len(set(names))


def test_user_profile_declares_custom_attributes_admin_edit_only(realm: dict[str, Any]) -> None:
    profile = _user_profile(realm)
    attrs = {a["name"]: a for a in profile["attributes"]}
    # the Keycloak defaults stay declared, or the realm loses them
    assert {"username", "email", "firstName", "lastName"} <= set(attrs)
    for name in CUSTOM_ATTRIBUTES:
        perms = attrs[name]["permissions"]
        assert perms["edit"] == ["admin"], f"{name}: users must not edit it themselves"
        assert set(perms["view"]) == {"admin", "user"}
        assert attrs[name].get("multivalued", False) is False
    assert attrs["role"]["validations"]["options"]["options"] == ["admin", "user", "readonly"]
    assert profile.get("unmanagedAttributePolicy") in {None, "ADMIN_VIEW", "ADMIN_EDIT"}
    groups = {g["name"] for g in profile.get("groups", [])}
    for a in profile["attributes"]:
        assert a.get("group") in groups | {None}


def test_explorer_cli_logs_users_in_with_the_code_flow_and_pkce_s256(realm: dict[str, Any]) -> None:
    cli = _clients(realm)["explorer-cli"]
    assert cli["publicClient"] is True and "secret" not in cli
    assert cli["standardFlowEnabled"] is True
    # RFC 9700 section 2.4: the password grant MUST NOT be used
    assert cli["directAccessGrantsEnabled"] is False
    assert cli["implicitFlowEnabled"] is False
    assert cli["attributes"]["pkce.code.challenge.method"] == "S256"
    # a loopback redirect the browser never follows (RFC 8252 section 7.3: any port)
    assert cli["redirectUris"] == ["http://127.0.0.1/callback"]
    assert not any("*" in uri for uri in cli["redirectUris"])


def test_explorer_cli_tokens_name_the_mcp_server_only_when_mcp_tools_is_asked_for(
    realm: dict[str, Any],
) -> None:
    cli = _clients(realm)["explorer-cli"]
    assert "mcp:tools" in cli["optionalClientScopes"]
    assert "mcp:tools" not in cli["defaultClientScopes"]
    # pattern 05 forwards the broad default token to the services
    assert _audiences(realm, "explorer-cli") == TOOL_AUDIENCES
    assert _audiences(realm, "explorer-cli", ("mcp:tools",)) == {"mcp-server"} | TOOL_AUDIENCES
    assert not [
        m for m in cli["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"
    ], "the MCP server audience comes from the mcp:tools scope, not a client mapper"


def test_the_mcp_tools_scope_is_an_audience_scope_shown_in_the_token(realm: dict[str, Any]) -> None:
    scope = _scopes(realm)["mcp:tools"]
    assert scope["protocol"] == "openid-connect"
    assert scope["attributes"]["include.in.token.scope"] == "true"
    mapper, username = scope["protocolMappers"]
    assert mapper["protocolMapper"] == "oidc-audience-mapper"
    assert mapper["config"]["included.client.audience"] == "mcp-server"
    assert mapper["config"]["access.token.claim"] == "true"
    assert mapper["config"]["id.token.claim"] == "false"
    # the MCP server names the user whether or not a client of its own asked for `profile`
    assert username["protocolMapper"] == "oidc-usermodel-attribute-mapper"
    assert username["config"]["user.attribute"] == "username"
    assert username["config"]["claim.name"] == "preferred_username"
    assert username["config"]["access.token.claim"] == "true"


def test_anonymous_client_registration_is_for_loopback_clients_of_the_mcp_server(
    realm: dict[str, Any]
) -> None:
    # Keycloak adds its own defaults only when the file has none; these replace them
    policies = realm["components"][
        "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"]
    anonymous = {p["providerId"]: p["config"] for p in policies if p["subType"] == "anonymous"}
    assert set(anonymous) == {"trusted-hosts", "max-clients", "scope",
                              "allowed-protocol-mappers", "allowed-client-templates"}
    assert anonymous["trusted-hosts"]["trusted-hosts"] == ["127.0.0.1", "localhost"]
    assert anonymous["trusted-hosts"]["client-uris-must-match"] == ["true"]
    assert anonymous["trusted-hosts"]["host-sending-registration-request-must-match"] == ["true"]
    assert anonymous["allowed-client-templates"]["allowed-client-scopes"] == ["openid",
                                                                            "mcp:tools"]
    assert {p["subType"] for p in policies} == {"anonymous", "authenticated"}


def test_explorer_cli_tokens_say_the_agent_may_act_for_the_user(realm: dict[str, Any]) -> None:
    cli = _clients(realm)["explorer-cli"]
    (may_act,) = [m for m in cli["protocolMappers"] if m["config"].get("claim.name") == "may_act"]
    assert may_act["protocolMapper"] == "oidc-hardcoded-claim-mapper"
    assert json.loads(may_act["config"]["claim.value"]) == {
        "sub": AGENT_SERVICE_ACCOUNT_ID,
        "client_id": "agent",
    }


@pytest.mark.parametrize(
    "client_id", ["mcp-server", "agent", "records-service", "directory-service"]
)
def test_no_other_client_has_a_browser_flow_or_redirect_uris(
    realm: dict[str, Any], client_id: str
) -> None:
    client = _clients(realm)[client_id]
    assert client["standardFlowEnabled"] is False and client["implicitFlowEnabled"] is False
    assert client["redirectUris"] == []


def test_mcp_server(realm: dict[str, Any]) -> None:
    mcp = _clients(realm)["mcp-server"]
    assert mcp["publicClient"] is False
    assert mcp["secret"] == "mcp-server-secret"
    assert mcp["directAccessGrantsEnabled"] is False
    assert mcp["standardFlowEnabled"] is False
    assert mcp["attributes"]["standard.token.exchange.enabled"] == "true"
    # DPoP allowed, not required: "true" would reject every token request without a proof
    assert mcp["attributes"].get("dpop.bound.access.tokens", "false") == "false"
    # exchange `audience=` can only narrow to audiences the requester's mappers give
    assert _audiences(realm, "mcp-server") == TOOL_AUDIENCES


def test_agent(realm: dict[str, Any]) -> None:
    agent = _clients(realm)["agent"]
    assert agent["publicClient"] is False
    assert agent["secret"] == "agent-secret"
    assert agent["serviceAccountsEnabled"] is True
    assert agent["standardFlowEnabled"] is False
    assert agent["directAccessGrantsEnabled"] is False
    # Pattern 09: the agent hands tasks to sub-agents by exchanging the user's token
    # (only tokens whose `aud` names it, that is, logins with the `agent:delegate` scope).
    assert agent["attributes"].get("standard.token.exchange.enabled") == "true"
    assert "delegate:summarizer" in agent["optionalClientScopes"]
    assert "acme:write" not in agent["optionalClientScopes"]


@pytest.mark.parametrize("client_id", ["records-service", "directory-service"])
def test_resource_clients_have_no_flows(realm: dict[str, Any], client_id: str) -> None:
    c = _clients(realm)[client_id]
    assert c["publicClient"] is False
    for flow in (
        "standardFlowEnabled",
        "implicitFlowEnabled",
        "directAccessGrantsEnabled",
        "serviceAccountsEnabled",
    ):
        assert c[flow] is False, flow
    assert c["attributes"].get("standard.token.exchange.enabled", "false") == "false"


@pytest.mark.parametrize("client_id", ["explorer-cli", "mcp-server"])
def test_user_attributes_mapped_into_access_tokens(realm: dict[str, Any], client_id: str) -> None:
    by_claim = {
        m["config"].get("claim.name"): m
        for m in _mappers(realm, client_id)
        if m["protocolMapper"] == "oidc-usermodel-attribute-mapper"
    }
    for name in (*CUSTOM_ATTRIBUTES, "preferred_username"):
        m = by_claim[name]
        assert m["config"]["access.token.claim"] == "true"
        assert m["config"]["jsonType.label"] == "String"
    for name in CUSTOM_ATTRIBUTES:
        assert by_claim[name]["config"]["user.attribute"] == name
    assert by_claim["preferred_username"]["config"]["user.attribute"] == "username"


def test_sub_claim_mapper_present(realm: dict[str, Any]) -> None:
    # Keycloak 25+ puts `sub` in access tokens only through the `basic` scope's sub mapper
    for client in realm["clients"]:
        kinds = {m["protocolMapper"] for m in _mappers(realm, client["clientId"])}
        assert "oidc-sub-mapper" in kinds, client["clientId"]


def test_client_scope_references_resolve(realm: dict[str, Any]) -> None:
    names = set(_scopes(realm))
    for client in realm["clients"]:
        assert set(client.get("defaultClientScopes", [])) <= names, client["clientId"]
        assert set(client.get("optionalClientScopes", [])) <= names, client["clientId"]
    assert set(realm.get("defaultDefaultClientScopes", [])) <= names
    clients = set(_clients(realm))
    every = (
        m
        for c in realm["clients"]
        for m in _mappers(realm, c["clientId"], tuple(c.get("optionalClientScopes", [])))
    )
    for mapper in every:
        if mapper["protocolMapper"] == "oidc-audience-mapper":
            assert mapper["config"]["included.client.audience"] in clients


def test_versions_pinned() -> None:
    values = dict(
        line.split("=", 1)
        for line in VERSIONS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert values["KEYCLOAK_VERSION"].startswith("26.")
    assert values["OPA_VERSION"].startswith("v1.")
