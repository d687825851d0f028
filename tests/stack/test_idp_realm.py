"""The realm file drives the embedded IdP; a broken file fails loudly and clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.idp import DEFAULT_REALM_FILE, EmbeddedIdP, RealmError, load_realm
from stack.idp.mappers import unsupported_mappers


def realm_json() -> dict:
    return json.loads(DEFAULT_REALM_FILE.read_text())


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "realm.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_default_realm_file_is_found_relative_to_the_package(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    realm = load_realm()
    assert realm.name == "agentauth"
    assert realm.access_token_lifespan == 300


def test_the_contract_users_and_clients_are_loaded():
    realm = load_realm()
    assert realm.users["alice"].id == "8a1f6c1e-0000-4000-8000-00000000a11c"
    assert realm.users["alice"].values("reports_to") == ("bob",)
    assert realm.service_account("agent").id == "8a1f6c1e-0000-4000-8000-0000000a9e17"
    assert realm.clients["explorer-cli"].public
    assert realm.clients["mcp-server"].standard_token_exchange
    assert realm.clients["agent"].standard_token_exchange        # it hands tasks on (p09)
    assert realm.clients["summarizer"].standard_token_exchange   # and the sub-agent takes them
    assert realm.service_account("summarizer").id == "8a1f6c1e-0000-4000-8000-0000005ab9e7"
    assert not realm.clients["records-service"].standard_token_exchange
    assert realm.warnings == ()
    assert unsupported_mappers(realm) == []


def test_the_login_client_is_read_for_the_code_flow():
    realm = load_realm()
    cli = realm.clients["explorer-cli"]
    assert cli.standard_flow and not cli.implicit_flow and not cli.direct_access_grants
    assert cli.redirect_uris == ("http://127.0.0.1/callback",)
    assert cli.pkce_method == "S256"
    assert cli.requestable_scopes >= {"mcp:tools", "profile", "tool-services-audience"}
    assert realm.scopes["mcp:tools"].include_in_token_scope
    assert realm.clients["mcp-server"].pkce_method is None
    assert not realm.clients["mcp-server"].standard_flow
    assert (realm.access_code_lifespan, realm.login_lifespan) == (60, 1800)  # Keycloak's defaults
    assert realm.display_name == "Acme (Agent Auth Explorer)"


def test_a_missing_file_names_the_path(tmp_path):
    with pytest.raises(RealmError, match="nope.json"):
        load_realm(tmp_path / "nope.json")


def test_invalid_json_reports_line_and_column(tmp_path):
    with pytest.raises(RealmError, match=r"not valid JSON \(line 2"):
        load_realm(write(tmp_path, '{"realm": "x",\n oops}'))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("realm"), "non-empty string 'realm'"),
        (lambda d: d.__setitem__("clients", {"a": 1}), "'clients' must be list"),
        (lambda d: d["clients"][0].pop("clientId"), r"clients\[0\]: needs a non-empty string"),
        (lambda d: d["clients"].append(dict(d["clients"][0])), "duplicate clientId"),
        (lambda d: d["users"][1].__setitem__("enabled", "yes"), "'enabled' must be bool"),
        (
            lambda d: d["clientScopes"][0]["protocolMappers"][0].pop("protocolMapper"),
            "has no protocolMapper type",
        ),
        (
            lambda d: d["clients"][0].__setitem__("defaultClientScopes", "basic"),
            "'defaultClientScopes' must be list",
        ),
        (lambda d: d["clients"][0].__setitem__("redirectUris", [1]), "'redirectUris' must be"),
        (lambda d: d["clients"][0].__setitem__("standardFlowEnabled", "yes"), "must be bool"),
        (lambda d: d.__setitem__("accessCodeLifespan", "60"), "'accessCodeLifespan' must be int"),
    ],
)
def test_a_malformed_entry_is_named(tmp_path, mutate, message):
    data = realm_json()
    mutate(data)
    with pytest.raises(RealmError, match=message):
        EmbeddedIdP(write(tmp_path, data))


def test_unknown_scope_references_become_warnings(tmp_path):
    data = realm_json()
    data["clients"][0]["defaultClientScopes"].append("no-such-scope")
    assert any("no-such-scope" in w for w in load_realm(write(tmp_path, data)).warnings)


def test_clients_with_service_accounts_get_a_service_account_user():
    realm = load_realm()
    # mcp-server has service accounts enabled but the file lists no user for it (Keycloak
    # creates one); the embedded IdP does the same.
    assert realm.service_account("mcp-server").username == "service-account-mcp-server"
