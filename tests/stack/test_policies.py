"""The Acme policies (stack/opa): every teaching decision, through the embedded OPA.

The `*_test.rego` unit tests cannot run under regopy 1.5.2: `with input as ...` on a rule
that calls a built-in aborts the interpreter ("shape `rego-localref` has no field
`rego-refhead`"). They run under the real `opa test` below when an OPA binary is available
(OPA_BIN, `opa` on PATH, or ~/.cache/agent-auth/bin/opa); the Python tables here cover the
same decisions, and a differential test checks regopy against the real OPA on generated input.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.opa import (
    POLICY_DIR,
    RBAC_DECISION,
    REBAC_DECISION,
    EmbeddedOPA,
    embedded_problems,
    v1_problems,
)

AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
SUMMARIZER_SA = "8a1f6c1e-0000-4000-8000-0000005ab9e7"
ACTIONS = [
    "read_expenses",
    "submit_expense",
    "approve_expense",
    "read_documents",
    "read_notes",
    "post_note",
    "list_users",
    "set_role",
    "disable_user",
]
ROLES = {"alice": "admin", "bob": "user", "dave": "readonly"}
# The policy keys people by `sub` (the realm's fixed user ids), never by username.
IDS = {"alice": "8a1f6c1e-0000-4000-8000-00000000a11c",
       "bob": "8a1f6c1e-0000-4000-8000-000000000b0b",
       "dave": "8a1f6c1e-0000-4000-8000-00000000da7e", "carol": "id-carol"}
EXPENSE_4 = {"type": "expense", "id": 4, "owner": IDS["alice"], "department": "engineering"}


def token(user: str, via: str = "agent", **extra: Any) -> dict[str, Any]:
    """An access token for `user` reaching the service `via` the agent (RFC 8693 act),
    the MCP server (Keycloak exchange: azp only) or `direct`ly (the human's own client)."""
    claims: dict[str, Any] = {
        "preferred_username": user,
        "role": ROLES[user],
        "sub": IDS[user],
        "aud": "records-service",
    }
    if via == "agent":
        claims |= {"azp": "mcp-server", "act": {"sub": AGENT_SA, "client_id": "agent"}}
    elif via == "mcp":
        claims |= {"azp": "mcp-server"}
    elif via == "direct":
        claims |= {"azp": "explorer-cli"}
    return claims | extra


def request(action: str, tok: dict[str, Any], resource: dict | None = None) -> dict[str, Any]:
    if resource is None:
        resource = EXPENSE_4 if "expense" in action else {"type": "user", "id": "bob"}
    return {"action": action, "token": tok, "resource": resource}


# --- the contract, restated in Python (docs/contracts.md "OPA") -----------------------------

READS = {"read_expenses", "read_documents", "read_notes"}
MEMBER = {"submit_expense", "post_note", "list_users"}
REPORTS_TO = {"alice": "bob"}


def rbac_allows(role: str, action: str) -> bool:
    if action in READS:
        return True
    if action in MEMBER:
        return role in ("admin", "user")
    return role == "admin"


def rebac_allows(user: str, role: str, action: str, owner: str, delegated: bool) -> bool:
    if action in READS:
        return True
    if action in MEMBER:
        return role in ("admin", "user")
    if action == "approve_expense":
        return owner != user and REPORTS_TO.get(owner) == user
    return role == "admin" and not delegated


@pytest.fixture(scope="module")
def opa() -> EmbeddedOPA:
    engine = EmbeddedOPA()
    engine.load()
    return engine


def decide(opa: EmbeddedOPA, path: str, input_doc: dict[str, Any]) -> dict[str, Any]:
    result = opa.evaluate(path, input_doc)
    assert result.defined, f"{path} undefined for {input_doc}"
    return result.value


# --- every user x every action ---------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", sorted(ROLES))
def test_rbac_decides_by_role_only(opa: EmbeddedOPA, user: str, action: str) -> None:
    for via in ("agent", "mcp", "direct"):
        d = decide(opa, RBAC_DECISION, request(action, token(user, via)))
        assert d["allow"] is rbac_allows(ROLES[user], action), (via, d)
        assert isinstance(d["reason"], str) and action in d["reason"]


@pytest.mark.parametrize("via", ["agent", "mcp", "direct"])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", sorted(ROLES))
def test_rebac_decides_by_relationship_and_delegation(
    opa: EmbeddedOPA, user: str, action: str, via: str
) -> None:
    d = decide(opa, REBAC_DECISION, request(action, token(user, via)))
    want = rebac_allows(user, ROLES[user], action, "alice", delegated=via != "direct")
    assert d["allow"] is want, d
    assert isinstance(d["reason"], str) and action in d["reason"]


# --- the teaching cases, with their reasons ----------------------------------------------------


def test_bob_approving_alices_expense_is_denied_by_rbac_and_allowed_by_rebac(
    opa: EmbeddedOPA,
) -> None:
    req = request("approve_expense", token("bob"))
    assert decide(opa, RBAC_DECISION, req) == {
        "allow": False,
        "reason": "approve_expense requires role admin, bob has user",
    }
    assert decide(opa, REBAC_DECISION, req) == {
        "allow": True,
        "reason": "approve_expense: bob manages alice (alice reports_to bob)",
    }


def test_alice_approving_her_own_expense_is_allowed_by_rbac_and_denied_by_rebac(
    opa: EmbeddedOPA,
) -> None:
    req = request("approve_expense", token("alice"))
    assert decide(opa, RBAC_DECISION, req)["allow"] is True
    assert decide(opa, REBAC_DECISION, req) == {
        "allow": False,
        "reason": "approve_expense: alice cannot approve their own expense",
    }


def test_dave_is_not_alices_manager(opa: EmbeddedOPA) -> None:
    d = decide(opa, REBAC_DECISION, request("approve_expense", token("dave")))
    assert d == {"allow": False, "reason": "approve_expense: dave is not alice's manager"}


@pytest.mark.parametrize(
    ("tok", "actor"),
    [
        (token("alice", "mcp"), "mcp-server"),
        (token("alice", "agent"), f"{AGENT_SA}, service account of agent"),
        (token("alice", "direct", act={"sub": "agent"}), "agent"),
    ],
    ids=["azp-mcp-server", "act-agent-service-account", "act-wins-over-azp"],
)
def test_alice_disabling_bob_through_an_agent_is_denied_by_rebac_only(
    opa: EmbeddedOPA, tok: dict[str, Any], actor: str
) -> None:
    req = request("disable_user", tok)
    assert decide(opa, RBAC_DECISION, req)["allow"] is True
    assert decide(opa, REBAC_DECISION, req) == {
        "allow": False,
        "reason": f"disable_user: delegated call (actor {actor}) — only the human may do this",
    }


def test_alice_disabling_bob_herself_is_allowed_by_rebac(opa: EmbeddedOPA) -> None:
    d = decide(opa, REBAC_DECISION, request("disable_user", token("alice", "direct")))
    assert d == {
        "allow": True,
        "reason": "disable_user: alice (admin) is acting directly "
        "(actor explorer-cli is not an agent)",
    }


def test_any_act_claim_counts_as_delegation(opa: EmbeddedOPA) -> None:
    tok = token("alice", "direct", act={"sub": "unknown-robot"})
    d = decide(opa, REBAC_DECISION, request("set_role", tok))
    assert d["allow"] is False
    assert "delegated call (actor unknown-robot)" in d["reason"]


def test_dave_cannot_make_himself_admin_under_either_policy(opa: EmbeddedOPA) -> None:
    for via in ("agent", "direct"):
        req = request("set_role", token("dave", via), {"type": "user", "id": "dave"})
        for path in (RBAC_DECISION, REBAC_DECISION):
            assert decide(opa, path, req) == {
                "allow": False,
                "reason": "set_role requires role admin, dave has readonly",
            }


def test_dave_reads_documents_under_either_policy(opa: EmbeddedOPA) -> None:
    req = request("read_documents", token("dave"), {"type": "document"})
    assert decide(opa, RBAC_DECISION, req)["allow"] is True
    assert decide(opa, REBAC_DECISION, req)["allow"] is True


def test_alice_lists_users_under_either_policy(opa: EmbeddedOPA) -> None:
    req = request("list_users", token("alice"))
    assert decide(opa, RBAC_DECISION, req) == {
        "allow": True,
        "reason": "list_users: alice has role admin",
    }
    assert decide(opa, REBAC_DECISION, req)["allow"] is True


def test_token_with_neither_act_nor_azp_fails_closed_for_human_only_actions(
    opa: EmbeddedOPA,
) -> None:
    tok = token("alice", via="none")
    assert "act" not in tok and "azp" not in tok
    d = decide(opa, REBAC_DECISION, request("disable_user", tok))
    assert d["allow"] is False
    assert "neither act.sub nor azp" in d["reason"]
    assert decide(opa, REBAC_DECISION, request("read_notes", tok))["allow"] is True
    assert decide(opa, REBAC_DECISION, request("approve_expense", token("bob", "none")))["allow"]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ({"type": "expense", "id": 4}, "approve_expense: the resource names no owner"),
        ({"type": "expense", "owner": 7}, "approve_expense: the resource names no owner"),
        ({"type": "expense", "owner": "id-carol"},
         "approve_expense: id-carol is not in the org chart"),
    ],
)
def test_approval_without_a_known_owner_is_denied(
    opa: EmbeddedOPA, resource: dict[str, Any], reason: str
) -> None:
    d = decide(opa, REBAC_DECISION, request("approve_expense", token("bob"), resource))
    assert d["allow"] is False
    assert d["reason"].startswith(reason)


@pytest.mark.parametrize("path", [RBAC_DECISION, REBAC_DECISION])
@pytest.mark.parametrize(
    "input_doc",
    [
        {},
        {"action": "read_notes"},
        {"action": "read_notes", "token": "not-an-object"},
        {"action": "set_role", "token": {"sub": IDS["alice"], "role": ["admin"]}},
        {"action": "drop_tables", "token": token("alice", "direct")},
        {"action": None, "token": token("alice", "direct")},
    ],
)
def test_malformed_input_is_denied_with_a_reason_never_undefined(
    opa: EmbeddedOPA, path: str, input_doc: dict[str, Any]
) -> None:
    d = decide(opa, path, input_doc)
    assert d["allow"] is False
    assert isinstance(d["reason"], str) and d["reason"]


texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
json_scalars = st.none() | st.booleans() | st.integers() | texts
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3),
    max_leaves=8,
)
names = st.sampled_from(["alice", "bob", "dave", "carol", "", "mcp-server", "agent", AGENT_SA,
                         *IDS.values()])
tokens = st.fixed_dictionaries(
    {},
    optional={
        "preferred_username": names | json_values,
        "sub": names | json_values,
        "role": st.sampled_from(["admin", "user", "readonly", "root", ""]) | json_values,
        "azp": st.sampled_from(["mcp-server", "explorer-cli", "agent", AGENT_SA]) | json_values,
        "act": st.fixed_dictionaries({}, optional={"sub": names | json_values}) | json_values,
    },
)
garbage_inputs = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from([*ACTIONS, "frobnicate"]) | json_values,
        "token": tokens | json_values,
        "resource": st.fixed_dictionaries({}, optional={"owner": names | json_values})
        | json_values,
    },
)
# Near-real requests: a real user's token with some claims dropped, a resource whose owner
# may be missing, odd or unknown.
realistic_tokens = st.builds(
    lambda user, via, drop: {k: v for k, v in token(user, via).items() if k not in drop},
    st.sampled_from(sorted(ROLES)),
    st.sampled_from(["agent", "mcp", "direct", "none"]),
    st.sets(st.sampled_from(["sub", "preferred_username", "role", "azp", "act"]), max_size=2),
)
realistic_inputs = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTIONS),
        "token": realistic_tokens,
        "resource": st.fixed_dictionaries(
            {"type": st.just("expense")}, optional={"owner": names | json_scalars}
        ),
    }
)
inputs = realistic_inputs | garbage_inputs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_doc=inputs)
def test_decisions_are_always_defined_and_well_formed(
    opa: EmbeddedOPA, input_doc: dict[str, Any]
) -> None:
    for path in (RBAC_DECISION, REBAC_DECISION):
        d = decide(opa, path, input_doc)
        assert set(d) == {"allow", "reason"}
        assert isinstance(d["allow"], bool) and isinstance(d["reason"], str) and d["reason"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    user=st.sampled_from(sorted(ROLES)),
    action=st.sampled_from(ACTIONS),
    owner=st.sampled_from(["alice", "bob", "dave"]),
    via=st.sampled_from(["agent", "mcp", "direct"]),
)
def test_rebac_matches_the_contract_for_any_owner(
    opa: EmbeddedOPA, user: str, action: str, owner: str, via: str
) -> None:
    resource = {"type": "expense", "id": 1, "owner": IDS[owner]}
    d = decide(opa, REBAC_DECISION, request(action, token(user, via), resource))
    assert d["allow"] is rebac_allows(user, ROLES[user], action, owner, via != "direct")


# --- the files themselves -------------------------------------------------------------------


def test_policy_files_are_rego_v1_and_runnable_embedded() -> None:
    files = sorted(POLICY_DIR.glob("*.rego"))
    assert {f.name for f in files} >= {"common.rego", "rbac.rego", "rebac.rego"}
    for f in files:
        assert v1_problems(f.read_text()) == [], f.name
        if not f.name.endswith("_test.rego"):
            assert embedded_problems(f.read_text()) == [], f.name


def test_data_json_matches_the_contract() -> None:
    data = json.loads((POLICY_DIR / "data.json").read_text())
    assert data["users"][IDS["alice"]] == {"username": "alice", "department": "engineering",
                                           "reports_to": IDS["bob"]}
    assert data["users"][IDS["bob"]] == {"username": "bob", "department": "engineering"}
    assert data["users"][IDS["dave"]] == {"username": "dave", "department": "platform"}
    assert set(data["agents"]) == {"mcp-server", "agent", AGENT_SA, "summarizer", SUMMARIZER_SA}


def test_data_json_agrees_with_the_realm_file() -> None:
    realm_file = POLICY_DIR.parent / "keycloak" / "realm-agentauth.json"
    if not realm_file.exists():
        pytest.skip("no realm file")
    realm = json.loads(realm_file.read_text())
    data = json.loads((POLICY_DIR / "data.json").read_text())
    ids = {u["username"]: u["id"] for u in realm["users"]}
    for user in realm["users"]:
        name = user["username"]
        if user.get("serviceAccountClientId"):
            assert user["id"] in data["agents"], f"{name} ({user['id']}) missing from agents"
            continue
        attrs = {k: v[0] for k, v in user.get("attributes", {}).items() if k != "role"}
        if "reports_to" in attrs:      # the policy follows ids; the realm names the manager
            attrs["reports_to"] = ids[attrs["reports_to"]]
        assert data["users"][user["id"]] == {"username": name, **attrs}, name


# --- against the real OPA, when there is one ------------------------------------------------


def _opa_binary() -> str | None:
    candidates = [
        os.environ.get("OPA_BIN"),
        shutil.which("opa"),
        str(Path.home() / ".cache" / "agent-auth" / "bin" / "opa"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


OPA_BIN = _opa_binary()
needs_opa = pytest.mark.skipif(OPA_BIN is None, reason="no OPA binary (set OPA_BIN)")


@needs_opa
def test_real_opa_check_accepts_the_policy_folder() -> None:
    assert OPA_BIN is not None
    run = subprocess.run(
        [OPA_BIN, "check", "--strict", str(POLICY_DIR)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


@needs_opa
def test_rego_unit_tests_pass_in_real_opa() -> None:
    assert OPA_BIN is not None
    run = subprocess.run(
        [OPA_BIN, "test", "--format=json", str(POLICY_DIR)], capture_output=True, text=True
    )
    results = json.loads(run.stdout or "[]")
    failed = [r["name"] for r in results if r.get("fail") or r.get("error")]
    assert run.returncode == 0 and not failed, failed or run.stderr
    assert len(results) >= 30


@pytest.fixture(scope="module")
def real_opa() -> Iterator[httpx.Client]:
    if OPA_BIN is None:
        pytest.skip("no OPA binary (set OPA_BIN)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [OPA_BIN, "run", "--server", f"--addr=127.0.0.1:{port}", str(POLICY_DIR)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("real OPA did not start")
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=5) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _grid() -> list[dict[str, Any]]:
    """Every user x path to the service x action x owner x missing claim."""
    cases = []
    for user, via, action, owner, drop in itertools.product(
        sorted(ROLES),
        ["agent", "mcp", "direct", "none"],
        ACTIONS,
        [None, "alice", "bob", "carol"],
        [None, "role", "sub", "preferred_username"],
    ):
        tok = {k: v for k, v in token(user, via).items() if k != drop}
        resource = {"type": "expense"} | ({"owner": IDS[owner]} if owner else {})
        cases.append(request(action, tok, resource))
    return cases


def test_embedded_and_real_opa_agree_on_every_near_real_request(tmp_path: Path) -> None:
    if OPA_BIN is None:
        pytest.skip("no OPA binary (set OPA_BIN)")
    cases = _grid()
    # One `opa eval` over all cases (`with` is fine in the real OPA).
    (tmp_path / "grid.rego").write_text(
        "package grid\n\n"
        "results := [[r, rb] | some c in input.cases\n"
        "\tr := data.agentauth.rbac.decision with input as c\n"
        "\trb := data.agentauth.rebac.decision with input as c\n]\n"
    )
    run = subprocess.run(
        [OPA_BIN, "eval", "-f", "json", "-d", str(POLICY_DIR), "-d", str(tmp_path), "-I"]
        + ["data.grid.results"],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    real = json.loads(run.stdout)["result"][0]["expressions"][0]["value"]
    assert len(real) == len(cases)
    opa = EmbeddedOPA()
    mismatches = [
        (case, want, got)
        for case, want in zip(cases, real, strict=True)
        if (got := [decide(opa, RBAC_DECISION, case), decide(opa, REBAC_DECISION, case)]) != want
    ]
    assert not mismatches, mismatches[:3]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_doc=inputs)
def test_embedded_and_real_opa_agree(
    opa: EmbeddedOPA, real_opa: httpx.Client, input_doc: dict[str, Any]
) -> None:
    for path in (RBAC_DECISION, REBAC_DECISION):
        real = real_opa.post(f"/v1/data/{path}", json={"input": input_doc}).json()
        assert real.get("result") == decide(opa, path, input_doc), path
