"""OPA contract: what the explorer relies on, over HTTP only.

Runs against the embedded OPA by default and, unchanged, against the real OPA 1.x serving
stack/opa (AGENT_AUTH_STACK=external OPA_URL=http://127.0.0.1:8181). Only what both answer
identically is asserted; a real OPA with decision logs adds "decision_id", which is ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

RBAC = "/v1/data/agentauth/rbac/decision"
REBAC = "/v1/data/agentauth/rebac/decision"
AGENT_SA = "8a1f6c1e-0000-4000-8000-0000000a9e17"
ROLES = {"alice": "admin", "bob": "user", "dave": "readonly"}
IDS = {"alice": "8a1f6c1e-0000-4000-8000-00000000a11c",
       "bob": "8a1f6c1e-0000-4000-8000-000000000b0b",
       "dave": "8a1f6c1e-0000-4000-8000-00000000da7e"}
EXPENSE_4 = {"type": "expense", "id": 4, "owner": IDS["alice"], "department": "engineering"}


@pytest_asyncio.fixture
async def opa(opa_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=opa_url, timeout=10) as client:
        yield client


def token(user: str, via: str = "agent") -> dict[str, Any]:
    claims: dict[str, Any] = {"preferred_username": user, "role": ROLES[user], "sub": IDS[user]}
    if via == "agent":  # embedded IdP: RFC 8693 act
        claims |= {"azp": "mcp-server", "act": {"sub": AGENT_SA, "client_id": "agent"}}
    elif via == "mcp":  # Keycloak token exchange: azp only
        claims |= {"azp": "mcp-server"}
    else:  # the human's own login
        claims |= {"azp": "explorer-cli"}
    return claims


def without_decision_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "decision_id"}


async def decide(opa: httpx.AsyncClient, path: str, action: str, tok: dict, resource: dict) -> dict:
    r = await opa.post(path, json={"input": {"action": action, "token": tok, "resource": resource}})
    assert r.status_code == 200, r.text
    return without_decision_id(r.json())["result"]


async def test_health(opa: httpx.AsyncClient) -> None:
    r = await opa.get("/health")
    assert r.status_code == 200
    assert r.json() == {}


async def test_bob_approving_alices_expense_rbac_denies_rebac_allows(
    opa: httpx.AsyncClient,
) -> None:
    for via in ("agent", "mcp"):
        tok = token("bob", via)
        assert await decide(opa, RBAC, "approve_expense", tok, EXPENSE_4) == {
            "allow": False,
            "reason": "approve_expense requires role admin, bob has user",
        }
        assert await decide(opa, REBAC, "approve_expense", tok, EXPENSE_4) == {
            "allow": True,
            "reason": "approve_expense: bob manages alice (alice reports_to bob)",
        }


async def test_alice_approving_her_own_expense_rbac_allows_rebac_denies(
    opa: httpx.AsyncClient,
) -> None:
    tok = token("alice")
    assert (await decide(opa, RBAC, "approve_expense", tok, EXPENSE_4))["allow"] is True
    assert await decide(opa, REBAC, "approve_expense", tok, EXPENSE_4) == {
        "allow": False,
        "reason": "approve_expense: alice cannot approve their own expense",
    }


async def test_alice_disabling_bob_only_the_human_may(opa: httpx.AsyncClient) -> None:
    bob = {"type": "user", "id": "bob"}
    for via, actor in (("mcp", "mcp-server"), ("agent", f"{AGENT_SA}, service account of agent")):
        tok = token("alice", via)
        assert (await decide(opa, RBAC, "disable_user", tok, bob))["allow"] is True
        assert await decide(opa, REBAC, "disable_user", tok, bob) == {
            "allow": False,
            "reason": f"disable_user: delegated call (actor {actor}) — only the human may do this",
        }
    assert (await decide(opa, REBAC, "disable_user", token("alice", "direct"), bob))["allow"]


async def test_dave_make_me_admin_is_denied_by_both(opa: httpx.AsyncClient) -> None:
    dave = {"type": "user", "id": "dave"}
    for path in (RBAC, REBAC):
        assert await decide(opa, path, "set_role", token("dave"), dave) == {
            "allow": False,
            "reason": "set_role requires role admin, dave has readonly",
        }


async def test_reads_and_directory_listing_are_allowed(opa: httpx.AsyncClient) -> None:
    for path in (RBAC, REBAC):
        docs = await decide(opa, path, "read_documents", token("dave"), {"type": "document"})
        assert docs["allow"] is True
        users = await decide(opa, path, "list_users", token("alice"), {"type": "user"})
        assert users["allow"] is True


async def test_org_chart_is_loaded_at_the_data_root(opa: httpx.AsyncClient) -> None:
    r = await opa.get(f"/v1/data/users/{IDS['alice']}/reports_to")
    assert without_decision_id(r.json()) == {"result": IDS["bob"]}
    agents = without_decision_id((await opa.get("/v1/data/agents")).json())["result"]
    assert {"mcp-server", "agent", AGENT_SA} <= set(agents)


async def test_undefined_document_is_an_empty_object(opa: httpx.AsyncClient) -> None:
    r = await opa.post("/v1/data/agentauth/nope/decision", json={"input": {}})
    assert r.status_code == 200
    assert without_decision_id(r.json()) == {}


async def test_decision_without_input_still_denies_and_warns(opa: httpx.AsyncClient) -> None:
    r = await opa.post(REBAC, json={})
    body = r.json()
    assert r.status_code == 200
    assert body["result"]["allow"] is False
    assert body["warning"]["code"] == "api_usage_warning"


@pytest.mark.parametrize("body", [b"garbage", b"[1, 2]"])
async def test_malformed_body_is_400_invalid_parameter(opa: httpx.AsyncClient, body: bytes) -> None:
    r = await opa.post(REBAC, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"
    assert r.json()["message"].startswith("body contains malformed input document")


async def test_metrics_on_request(opa: httpx.AsyncClient) -> None:
    r = await opa.post(f"{REBAC}?metrics=true", json={"input": {}})
    metrics = r.json()["metrics"]
    assert metrics["timer_rego_query_eval_ns"] >= 0
    assert "timer_server_handler_ns" in metrics


@pytest.mark.parametrize("via", ["agent", "mcp"])
async def test_a_read_only_task_token_reads_and_never_writes(opa: httpx.AsyncClient,
                                                             via: str) -> None:
    tok = token("alice", via) | {"scope": "profile email acme:read"}
    note = {"type": "note"}
    read = await decide(opa, "/v1/data/agentauth/chain/decision", "read_expenses", tok, note)
    post = await decide(opa, "/v1/data/agentauth/chain/decision", "post_note", tok, note)
    assert read["allow"] is True
    assert post["allow"] is False and post["reason"].startswith("post_note needs scope acme:write")


async def test_the_retrieval_filter_is_one_answer_for_every_chunk(opa: httpx.AsyncClient) -> None:
    chunks = [{"id": f"doc{n}#0", "document": n, "visibility": v}
              for n, v in enumerate(("public", "engineering", "platform", "admin"), 1)]
    r = await opa.post("/v1/data/agentauth/retrieval/filter",
                       json={"input": {"token": token("dave"), "chunks": chunks}})
    assert r.status_code == 200, r.text
    result = without_decision_id(r.json())["result"]
    assert result["visible"] == ["doc1#0", "doc3#0"]
    assert result["reason"].startswith("2 of 4 chunks visible to dave")
